import { Agent, request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningProxy, startGateway } from '../src/gateway.ts'
import { type LocalOrigin, startEchoOrigin } from '../src/origins.ts'

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
