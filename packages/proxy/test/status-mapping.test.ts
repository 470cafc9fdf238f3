import { ErrorType, PingoraError } from '@pingora-ts/error'
import { errorStatus } from '@pingora-ts/proxy'
import { describe, expect, it } from 'vitest'
import { origin, peerFor, rawExchange, startProxy } from './helpers.ts'

describe('default status mapping', () => {
  it('maps errors to statuses: HTTPStatus, 504 timeouts, 502 upstream, 400/none downstream, 500', () => {
    const cases: [PingoraError, number][] = [
      [PingoraError.explain(ErrorType.HTTPStatus(429), 'limited'), 429],
      [PingoraError.upstream('ReadTimedout'), 504],
      [PingoraError.upstream('WriteTimedout'), 504],
      [PingoraError.upstream('ConnectTimedout'), 504],
      [PingoraError.upstream('ConnectRefused'), 502],
      [PingoraError.downstream('InvalidHTTPHeader'), 400],
      [PingoraError.downstream('ConnectionClosed'), 0],
      [PingoraError.internal('InternalError'), 500],
    ]
    expect(cases.map(([e]) => errorStatus(e))).toEqual(cases.map(([, status]) => status))
  })

  it('answers 400 to a malformed request body and logging receives the downstream error', async () => {
    const o = await origin((req, res) => {
      req.on('error', () => {})
      req.resume()
      req.on('end', () => res.end('ok'))
    })
    let logged: PingoraError | undefined
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(o.port),
      logging: (_s, e) => {
        logged = e
      },
    })
    const response = await rawExchange(
      p.port,
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
    )
    expect(response).toMatch(/^HTTP\/1\.1 400 /)
    await expect.poll(() => logged?.source).toBe('downstream')
  })
})
