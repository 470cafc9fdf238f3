import type { HttpModule, HttpModules, ProxyHttp } from '@pingora-ts/proxy'
import { describe, expect, it } from 'vitest'
import { origin, peerFor, rawClient, startProxy } from './helpers.ts'

describe('phase order around modules and keep-alive', () => {
  it('runs onConnectionReuse before earlyRequestFilter, modules between early and requestFilter, persist after logging', async () => {
    const o = await origin((_req, res) => res.end('x'))
    const calls: string[] = []
    class Tracing implements HttpModule {
      requestHeaderFilter() {
        calls.push('module.requestHeader')
      }
      responseHeaderFilter() {
        calls.push('module.responseHeader')
      }
    }
    let n = 0
    const app: ProxyHttp<{ n: number }> = {
      newCtx: () => {
        calls.push('newCtx')
        return { n: ++n }
      },
      initDownstreamModules(modules: HttpModules) {
        modules.addModule({ init: () => new Tracing() })
      },
      onConnectionReuse: (_s, _c, prev) => {
        calls.push(`onConnectionReuse(${String(prev)})`)
      },
      earlyRequestFilter: () => {
        calls.push('earlyRequestFilter')
      },
      requestFilter: () => {
        calls.push('requestFilter')
        return false
      },
      upstreamPeer: () => peerFor(o.port),
      responseFilter: () => {
        calls.push('responseFilter')
      },
      logging: () => {
        calls.push('logging')
      },
      persistConnectionContext: (_s, ctx) => {
        calls.push('persistConnectionContext')
        return `r${ctx.n}`
      },
    }
    const p = await startProxy(app)
    const client = await rawClient(p.port)
    client.socket.write('GET /1 HTTP/1.1\r\nHost: x\r\n\r\n')
    await client.waitFor(/\r\n\r\nx/)
    client.socket.write('GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    await client.closed
    const perRequest = [
      'earlyRequestFilter',
      'module.requestHeader',
      'requestFilter',
      'responseFilter',
      'module.responseHeader',
      'logging',
    ]
    expect(calls).toEqual([
      'newCtx',
      ...perRequest,
      'persistConnectionContext',
      'newCtx',
      'onConnectionReuse(r1)',
      ...perRequest,
    ])
  })
})
