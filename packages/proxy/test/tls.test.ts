import type http from 'node:http'
import { type Digest, HttpPeer, type PeerOptionsInit, TlsSettings } from '@pingora-ts/core'
import type { PingoraError } from '@pingora-ts/error'
import type { RequestHeader } from '@pingora-ts/http'
import type { ProxyHttp } from '@pingora-ts/proxy'
import { type CertPaths, certs, readCert, startOrigin } from '@pingora-ts/test-utils'
import { startProxy } from '@pingora-ts/test-utils/proxy'
import { Agent, request } from 'undici'
import { describe, expect, it, onTestFinished } from 'vitest'

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void

/** An HTTPS origin (HTTP/1.1 over TLS) with the given certificate; answers with its headers. */
async function httpsOrigin(cert: CertPaths = certs.localhost, handler?: Handler) {
  const answer: Handler =
    handler ??
    ((req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ headers: req.headers, url: req.url }))
    })
  const o = await startOrigin(answer as never, { protocol: 'https', cert })
  onTestFinished(o.close)
  return o
}

/** Starts `app` behind a TLS endpoint on 127.0.0.1:0; returns its port. */
async function startTlsProxy<Ctx>(app: ProxyHttp<Ctx>, settings: TlsSettings): Promise<number> {
  return (await startProxy(app, {}, { tls: settings })).port
}

/** An undici agent trusting the test CA, optionally presenting the test client certificate. */
function client(withCert = false): Agent {
  const agent = new Agent({
    connect: {
      ca: readCert('ca.pem'),
      servername: 'localhost',
      ...(withCert ? { cert: readCert('client.pem'), key: readCert('client.key') } : {}),
    },
  })
  onTestFinished(() => agent.close())
  return agent
}

function listenerSettings(): TlsSettings {
  return TlsSettings.intermediate(certs.localhost.cert, certs.localhost.key)
}

function tlsPeer(port: number, sni: string, options: PeerOptionsInit = {}): HttpPeer {
  return new HttpPeer({
    address: `127.0.0.1:${port}`,
    tls: true,
    sni,
    options: { ca: readCert('ca.pem'), ...options },
  })
}

/** A promise that `logging` resolves with the request's error. */
function loggedError(): {
  promise: Promise<PingoraError | undefined>
  logging: ProxyHttp<undefined>['logging']
} {
  let resolve: (error: PingoraError | undefined) => void = () => {}
  const promise = new Promise<PingoraError | undefined>((r) => {
    resolve = r
  })
  return { promise, logging: (_session, error) => resolve(error) }
}

describe('proxy over TLS, end to end', () => {
  it('proxies a TLS client to an HTTPS origin (downstream and upstream TLS)', async () => {
    const origin = await httpsOrigin()
    let upstreamDigest: Digest | undefined
    const port = await startTlsProxy(
      {
        newCtx: () => undefined,
        upstreamPeer() {
          const peer = new HttpPeer(`127.0.0.1:${origin.port}`, true, 'localhost')
          peer.options.ca = readCert('ca.pem')
          return peer
        },
        connectedToUpstream(_session, _reused, _peer, digest) {
          upstreamDigest = digest
        },
        responseFilter(session, upstreamResponse) {
          upstreamResponse.insertHeader('x-downstream-tls', session.digest.tls?.version ?? 'none')
        },
      },
      listenerSettings(),
    )
    const response = await request(`https://127.0.0.1:${port}/hello`, { dispatcher: client() })
    expect(response.statusCode).toBe(200)
    expect(response.headers['x-downstream-tls']).toBe('TLSv1.3')
    const body = (await response.body.json()) as { url: string }
    expect(body.url).toBe('/hello')
    expect(upstreamDigest?.tls).toMatchObject({ version: 'TLSv1.3', sni: 'localhost' })
  })

  it('answers 502 when the peer has no CA for the origin (system store only)', async () => {
    const origin = await httpsOrigin()
    const logged = loggedError()
    const port = await startTlsProxy(
      {
        newCtx: () => undefined,
        upstreamPeer: () => new HttpPeer(`127.0.0.1:${origin.port}`, true, 'localhost'),
        logging: logged.logging,
      },
      listenerSettings(),
    )
    const response = await request(`https://127.0.0.1:${port}/`, { dispatcher: client() })
    expect(response.statusCode).toBe(502)
    await response.body.dump()
    expect(await logged.promise).toMatchObject({ type: 'InvalidCert', source: 'upstream' })
  })

  it('passes the downstream client certificate identity (mTLS) to requestFilter', async () => {
    const origin = await httpsOrigin()
    const settings = listenerSettings()
    settings.setClientAuth({ ca: certs.clientCa })
    const seen: Array<string | undefined> = []
    const port = await startTlsProxy<{ user: string | undefined }>(
      {
        newCtx: () => ({ user: undefined }),
        requestFilter(session, ctx) {
          ctx.user = session.digest.tls?.peerCertificate?.commonName
          seen.push(ctx.user)
          return false
        },
        upstreamPeer: () => tlsPeer(origin.port, 'localhost'),
        upstreamRequestFilter(_session, upstreamRequest: RequestHeader, ctx) {
          upstreamRequest.insertHeader('x-client-cn', ctx.user ?? '')
        },
      },
      settings,
    )
    const response = await request(`https://127.0.0.1:${port}/`, { dispatcher: client(true) })
    expect(response.statusCode).toBe(200)
    const body = (await response.body.json()) as { headers: Record<string, string> }
    expect(body.headers['x-client-cn']).toBe('client.test')
    expect(seen).toEqual(['client.test'])
    // Without a client certificate the TLS endpoint refuses the connection.
    await expect(request(`https://127.0.0.1:${port}/`, { dispatcher: client() })).rejects.toThrow()
  })
})

describe('upstream certificate verification', () => {
  async function attempt(originCert: CertPaths, options: PeerOptionsInit = {}) {
    const origin = await httpsOrigin(originCert)
    const logged = loggedError()
    const port = await startTlsProxy(
      {
        newCtx: () => undefined,
        upstreamPeer: () => tlsPeer(origin.port, 'localhost', options),
        logging: logged.logging,
      },
      listenerSettings(),
    )
    const response = await request(`https://127.0.0.1:${port}/`, { dispatcher: client() })
    await response.body.dump()
    return { status: response.statusCode, error: await logged.promise }
  }

  it('answers 502 with InvalidCert for a certificate for another host', async () => {
    const { status, error } = await attempt(certs.wrongHost)
    expect(status).toBe(502)
    expect(error).toMatchObject({ type: 'InvalidCert', source: 'upstream' })
  })

  it('answers 502 with InvalidCert for an expired certificate', async () => {
    const { status, error } = await attempt(certs.expired)
    expect(status).toBe(502)
    expect(error).toMatchObject({ type: 'InvalidCert', source: 'upstream' })
  })

  it('answers 502 for a certificate from a CA the peer does not trust', async () => {
    const { status, error } = await attempt(certs.localhost, { ca: readCert('untrusted-ca.pem') })
    expect(status).toBe(502)
    expect(['InvalidCert', 'TLSHandshakeFailure']).toContain(error?.type)
    expect(error?.source).toBe('upstream')
  })

  it('accepts any certificate with verifyCert: false', async () => {
    const { status, error } = await attempt(certs.wrongHost, { verifyCert: false })
    expect(status).toBe(200)
    expect(error).toBeUndefined()
  })

  it('accepts another host name with verifyHostname: false but still checks the chain', async () => {
    const accepted = await attempt(certs.wrongHost, { verifyHostname: false })
    expect(accepted.status).toBe(200)
    const refused = await attempt(certs.expired, { verifyHostname: false })
    expect(refused.error).toMatchObject({ type: 'InvalidCert' })
  })
})

describe('upstream connection reuse across TLS settings', () => {
  it('never hands a connection made with other TLS settings (SNI, verification) to a peer', async () => {
    const origin = await httpsOrigin(certs.wildcard)
    const reused: boolean[] = []
    const port = await startTlsProxy(
      {
        newCtx: () => undefined,
        upstreamPeer(session) {
          const variant = session.requestHeader.getHeader('x-variant') ?? ''
          if (variant === 'sni-x') return tlsPeer(origin.port, 'x.wild.test')
          if (variant === 'sni-y') return tlsPeer(origin.port, 'y.wild.test')
          return tlsPeer(origin.port, 'x.wild.test', { verifyCert: false })
        },
        connectedToUpstream(_session, isReused) {
          reused.push(isReused)
        },
      },
      listenerSettings(),
    )
    const dispatcher = client()
    for (const variant of ['sni-x', 'sni-x', 'sni-y', 'no-verify', 'sni-y', 'no-verify']) {
      const response = await request(`https://127.0.0.1:${port}/`, {
        dispatcher,
        headers: { 'x-variant': variant },
      })
      expect(response.statusCode).toBe(200)
      await response.body.dump()
    }
    // The second request of each setting reuses its own connection, never another's.
    expect(reused).toEqual([false, true, false, false, true, true])
  })
})
