import { RequestHeader, type ResponseHeader } from '@pingora-ts/http'
import { HttpModules, type ProxyHttp, type Session } from '@pingora-ts/proxy'
import { createTestSession } from '@pingora-ts/proxy/testing'
import { describe, expect, it } from 'vitest'

interface Ctx {
  user: string | undefined
}

// A proxy whose phases are tested below without sockets.
const app = {
  newCtx: (): Ctx => ({ user: undefined }),
  upstreamPeer: () => {
    throw new Error('not used by these tests')
  },
  async requestFilter(session: Session, ctx: Ctx): Promise<boolean> {
    ctx.user = session.getHeader('X-User')
    if (session.requestHeader.path.startsWith('/admin') && ctx.user !== 'root') {
      await session.respondErrorWithBody(403, Buffer.from('forbidden'))
      return true
    }
    return false
  },
} satisfies ProxyHttp<Ctx>

describe('createTestSession (@pingora-ts/proxy/testing)', () => {
  it('runs requestFilter on raw request text and shows what it wrote', async () => {
    const { session, written, close } = await createTestSession(
      'GET /admin/users HTTP/1.1\r\nHost: example.com\r\n\r\n',
    )
    const ctx = app.newCtx()
    expect(await app.requestFilter(session, ctx)).toBe(true)
    expect(written()).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/)
    expect(written()).toContain('Content-Length: 9\r\n')
    expect(written().endsWith('\r\n\r\nforbidden')).toBe(true)
    expect(session.responseWritten?.status).toBe(403)
    close()
  })

  it('lets a request through and writes nothing', async () => {
    const request = RequestHeader.build('GET', '/admin')
    request.insertHeader('Host', 'example.com')
    request.insertHeader('X-User', 'root')
    const { session, written } = await createTestSession(request)
    const ctx = app.newCtx()
    expect(await app.requestFilter(session, ctx)).toBe(false)
    expect(ctx.user).toBe('root')
    expect(written()).toBe('')
    expect(session.requestHeader.getHeader('host')).toBe('example.com')
    expect(session.clientReused).toBe(false)
  })

  it('gives the phases the request body', async () => {
    const request = RequestHeader.build('POST', '/upload')
    request.insertHeader('Host', 'example.com')
    const { session } = await createTestSession(request, { body: 'hello body' })
    const chunks: Buffer[] = []
    for (;;) {
      const chunk = await session.readRequestBody()
      if (chunk === undefined) break
      chunks.push(chunk)
    }
    expect(Buffer.concat(chunks).toString()).toBe('hello body')
    expect(session.bodyBytesRead).toBe(10)
  })

  it('runs the downstream modules on responses the phases write', async () => {
    const modules = new HttpModules()
    modules.addModule({
      init: () => ({
        responseHeaderFilter(response: ResponseHeader) {
          response.insertHeader('X-Module', 'seen')
        },
      }),
    })
    const { session, written } = await createTestSession(
      'GET / HTTP/1.1\r\nHost: example.com\r\n\r\n',
      { modules, clientReused: true },
    )
    await session.respondError(502)
    expect(written()).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/)
    expect(written()).toContain('X-Module: seen\r\n')
    expect(session.clientReused).toBe(true)
  })

  it('rejects a malformed request head with the PingoraError the server would answer 400 with', async () => {
    await expect(createTestSession('NOT HTTP\r\n\r\n')).rejects.toMatchObject({
      type: 'InvalidHTTPHeader',
      status: 400,
    })
  })
})
