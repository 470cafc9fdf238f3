import { EventEmitter, once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { type LocalOrigin, startEchoOrigin } from '@pingora-ts/example-origins'
import { Agent, request } from 'undici'
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest'
import { type RunningProxy, startGateway } from '../src/gateway.ts'

interface Echo {
  origin: string
  path: string
  headers: Record<string, string | undefined>
}

describe('gateway example', () => {
  let api: LocalOrigin
  let web: LocalOrigin
  let gateway: RunningProxy
  const agent = new Agent()

  beforeAll(async () => {
    api = await startEchoOrigin('api')
    web = await startEchoOrigin('web')
    gateway = await startGateway({
      apiUpstream: api.address,
      webUpstream: web.address,
      token: 'hunter2',
    })
  })
  afterAll(async () => {
    await agent.close()
    await gateway?.close()
    await Promise.all([api?.close(), web?.close()])
  })

  const get = (path: string, headers: Record<string, string> = {}) =>
    request(`http://127.0.0.1:${gateway.port}${path}`, { headers, dispatcher: agent })

  it('rejects, routes by path and forwards the client address', async () => {
    const missing = await get('/api/users')
    expect(missing.statusCode).toBe(403)
    await missing.body.dump()

    const wrong = await get('/api/users', { authorization: 'Bearer hunter3' })
    expect(wrong.statusCode).toBe(403)
    await wrong.body.dump()

    const auth = { authorization: 'Bearer hunter2' }
    const toApi = await get('/api/users?id=7', auth)
    expect(toApi.statusCode).toBe(200)
    expect(toApi.headers.server).toBe('pingora-ts-gateway')
    const apiEcho = (await toApi.body.json()) as Echo
    expect(apiEcho.origin).toBe('api')
    expect(apiEcho.path).toBe('/api/users?id=7')
    expect(apiEcho.headers['x-forwarded-for']).toBe('127.0.0.1')
    expect(apiEcho.headers.via).toBe('1.1 pingora-ts-gateway')
    expect(apiEcho.headers.authorization).toBeUndefined()

    const toWeb = await get('/apis/not-the-api', auth)
    expect(toWeb.statusCode).toBe(200)
    const webEcho = (await toWeb.body.json()) as Echo
    expect(webEcho.origin).toBe('web')
    expect(webEcho.path).toBe('/apis/not-the-api')
  })
})

describe('gateway in-flight limit per upstream', () => {
  it('answers 503 past the limit of one upstream while the other still serves', async () => {
    // An API origin that holds every request until the test lets it answer.
    const held: http.ServerResponse[] = []
    const arrived = new EventEmitter()
    const slowApi = http.createServer((_request, response) => {
      held.push(response)
      arrived.emit('request')
    })
    slowApi.listen(0, '127.0.0.1')
    await once(slowApi, 'listening')
    onTestFinished(() => {
      slowApi.closeAllConnections()
      slowApi.close()
    })
    const web = await startEchoOrigin('web')
    onTestFinished(web.close)
    const gateway = await startGateway({
      apiUpstream: `127.0.0.1:${(slowApi.address() as AddressInfo).port}`,
      webUpstream: web.address,
      token: 't',
      maxInflightPerUpstream: 2,
    })
    onTestFinished(() => gateway.close())
    const agent = new Agent()
    onTestFinished(() => agent.close())
    const get = (path: string) =>
      request(`http://127.0.0.1:${gateway.port}${path}`, {
        headers: { authorization: 'Bearer t' },
        dispatcher: agent,
      })

    const bothArrived = new Promise<void>((resolve) => {
      arrived.on('request', () => held.length === 2 && resolve())
    })
    const first = get('/api/1')
    const second = get('/api/2')
    await bothArrived
    expect(gateway.app.inflight('api')).toBe(2)

    const rejected = await get('/api/3')
    expect(rejected.statusCode).toBe(503)
    await rejected.body.dump()
    const other = await get('/index.html')
    expect(other.statusCode).toBe(200)
    await other.body.dump()

    for (const response of held) response.end('done')
    for (const pending of [first, second]) {
      const response = await pending
      expect(response.statusCode).toBe(200)
      expect(await response.body.text()).toBe('done')
    }
    // `logging` releases each guard once the request is over.
    await vi.waitFor(() => expect(gateway.app.inflight('api')).toBe(0))
    const third = get('/api/4')
    await once(arrived, 'request')
    held.at(-1)?.end('done')
    expect((await third).statusCode).toBe(200)
  })
})
