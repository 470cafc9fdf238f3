import { ResponseHeader } from '@pingora-ts/http'
import type { Session } from '@pingora-ts/proxy'
import { describe, expect, it } from 'vitest'
import { peerFor, rawExchange, startProxy } from './helpers.ts'

describe('the Session API in a locally answered request', () => {
  it('reads the body, writes header and body, controls keep-alive and counts bytes', async () => {
    const seen: Record<string, unknown> = {}
    const p = await startProxy({
      newCtx: () => undefined,
      upstreamPeer: () => peerFor(1),
      async requestFilter(session: Session) {
        const parts: Buffer[] = []
        for (;;) {
          const chunk = await session.readRequestBody()
          if (chunk === undefined) break
          parts.push(chunk)
        }
        const body = Buffer.from(`echo:${Buffer.concat(parts).toString()}`)
        const response = ResponseHeader.build(200)
        response.insertHeader('Content-Length', String(body.length))
        session.setKeepalive(undefined)
        await session.writeResponseHeader(response)
        await session.writeResponseBody(body, true)
        return true
      },
      logging(session: Session) {
        seen.read = session.bodyBytesRead
        seen.sent = session.bodyBytesSent
        seen.client = session.clientAddr?.address
        seen.server = session.serverAddr?.port
        seen.status = session.responseWritten?.status
      },
    })
    const response = await rawExchange(
      p.port,
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello',
    )
    expect(response).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(response).toContain('Connection: close\r\n')
    expect(response.endsWith('\r\n\r\necho:hello')).toBe(true)
    await expect.poll(() => seen.status).toBe(200)
    expect(seen).toEqual({ read: 5, sent: 10, client: '127.0.0.1', server: p.port, status: 200 })
  })
})
