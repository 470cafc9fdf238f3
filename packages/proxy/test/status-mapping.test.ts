import { ErrorType, PingoraError } from '@pingora-ts/error'
import { errorStatus } from '@pingora-ts/proxy'
import { describe, expect, it } from 'vitest'
import { origin, peerFor, rawClient, startProxy } from './helpers.ts'

describe('default status mapping', () => {
  it('maps errors to statuses: HTTPStatus, 504 timeouts, 502 upstream, 400/none downstream, 500', () => {
    const cases: [PingoraError, number | undefined][] = [
      [PingoraError.explain(ErrorType.HTTPStatus(429), 'limited'), 429],
      [PingoraError.upstream('ReadTimedout'), 504],
      [PingoraError.upstream('WriteTimedout'), 504],
      [PingoraError.upstream('ConnectTimedout'), 504],
      [PingoraError.upstream('ConnectRefused'), 502],
      [PingoraError.downstream('InvalidHTTPHeader'), 400],
      [PingoraError.downstream('ConnectionClosed'), undefined],
      [PingoraError.internal('InternalError'), 500],
    ]
    expect(cases.map(([e]) => errorStatus(e))).toEqual(cases.map(([, status]) => status))
  })

  it('answers 400 to a malformed request body and logging receives the downstream error', async () => {
    let originSaw: () => void = () => {}
    const originRequest = new Promise<void>((resolve) => {
      originSaw = resolve
    })
    const o = await origin((req, res) => {
      originSaw()
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
    const client = await rawClient(p.port)
    client.socket.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n')
    // The broken body arrives once the request is on its way upstream (a body broken in the
    // bytes that came with the head is refused before that: see framing.test.ts).
    await originRequest
    client.socket.write('zz\r\nabc\r\n0\r\n\r\n')
    await client.closed
    expect(client.received()).toMatch(/^HTTP\/1\.1 400 /)
    await expect.poll(() => logged?.source).toBe('downstream')
  })
})
