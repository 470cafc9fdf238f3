import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startRedis } from '@pingora-ts/test-utils'
import { Agent, request } from 'undici'
import { afterAll, describe, expect, it, onTestFinished } from 'vitest'
import { startCachingProxy } from '../src/caching-proxy.ts'
import { type LocalOrigin, startDemoOrigin } from '../src/origin.ts'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const agent = new Agent()
afterAll(() => agent.close())

async function get(base: string, path: string, method = 'GET') {
  const response = await request(`${base}${path}`, { dispatcher: agent, method: method as 'GET' })
  return {
    status: response.statusCode,
    cache: response.headers['x-cache-status'],
    body: await response.body.text(),
  }
}

async function demoOrigin(): Promise<LocalOrigin> {
  const origin = await startDemoOrigin()
  onTestFinished(() => origin.close())
  return origin
}

/** Runs `src/main.ts` with arguments; resolves with the URL it prints once listening. */
function runMain(args: string[]): Promise<string> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@pingora-ts/source', 'src/main.ts', ...args],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  )
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const match = /listening on (\S+)/.exec(out)
      if (match) resolve(match[1] as string)
    })
    child.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString()
    })
    child.once('exit', (code) => reject(new Error(`main.ts exited with ${code}: ${err}`)))
  })
}

describe('cache example', () => {
  it('caches in memory, reports X-Cache-Status, keeps private responses out', async () => {
    const origin = await demoOrigin()
    const proxy = await startCachingProxy({ upstream: origin.address }, { kind: 'memory' })
    onTestFinished(() => proxy.close())
    const base = `http://127.0.0.1:${proxy.port}`
    const miss = await get(base, '/time')
    const hit = await get(base, '/time')
    expect([miss.cache, hit.cache, hit.body]).toEqual(['MISS', 'HIT', miss.body])
    const head = await get(base, '/time', 'HEAD')
    expect([head.cache, head.body]).toEqual(['HIT', ''])
    await get(base, '/private')
    // The predictor remembers the key as uncacheable: later requests skip the lookup.
    expect((await get(base, '/private')).cache).toBe('BYPASS')
    expect(origin.requests()).toBe(3)
    // POST: not cached, and it invalidates /time.
    expect((await get(base, '/time', 'POST')).cache).toBe('BYPASS')
    expect((await get(base, '/time')).cache).toBe('MISS')
  })

  it('runs from the command line with --disk and a second process on the same directory finds the entries', async () => {
    const origin = await demoOrigin()
    const directory = await mkdtemp(join(tmpdir(), 'pingora-cache-example-'))
    onTestFinished(() => rm(directory, { recursive: true, force: true }))
    const args = ['--listen', '127.0.0.1:0', '--upstream', origin.address, '--disk', directory]
    const first = await runMain(args)
    expect((await get(first, '/time')).cache).toBe('MISS')
    expect((await get(first, '/time')).cache).toBe('HIT')
    const second = await runMain(args)
    expect((await get(second, '/time')).cache).toBe('HIT')
    expect(origin.requests()).toBe(1)
  }, 30_000)

  it('shares a Redis storage between two proxy processes (--redis)', async () => {
    const redis = await startRedis()
    onTestFinished(redis.stop)
    const origin = await demoOrigin()
    const args = ['--listen', '127.0.0.1:0', '--upstream', origin.address, '--redis', redis.url]
    const [one, two] = await Promise.all([runMain(args), runMain(args)])
    const miss = await get(one, '/time')
    const hit = await get(two, '/time')
    expect([miss.cache, hit.cache, hit.body]).toEqual(['MISS', 'HIT', miss.body])
    expect(origin.requests()).toBe(1)
  }, 30_000)

  it('answers every request while Redis is down: the cache misses, no request fails', async () => {
    const redis = await startRedis()
    onTestFinished(redis.stop)
    const origin = await demoOrigin()
    const proxy = await startCachingProxy(
      { upstream: origin.address },
      { kind: 'redis', url: redis.url },
    )
    onTestFinished(() => proxy.close())
    const base = `http://127.0.0.1:${proxy.port}`
    expect((await get(base, '/time')).cache).toBe('MISS')
    expect((await get(base, '/time')).cache).toBe('HIT')
    await redis.kill()
    const down = [await get(base, '/time'), await get(base, '/time')]
    expect(down.map((reply) => [reply.status, reply.cache])).toEqual([
      [200, 'MISS'],
      [200, 'MISS'],
    ])
    expect(origin.requests()).toBe(3)
  }, 30_000)

  it('gives --default-ttl freshness to responses that set none', async () => {
    const origin = await demoOrigin()
    const proxy = await startCachingProxy(
      { upstream: origin.address, defaultTtlSec: 60 },
      { kind: 'memory' },
    )
    onTestFinished(() => proxy.close())
    const base = `http://127.0.0.1:${proxy.port}`
    expect((await get(base, '/plain')).cache).toBe('MISS')
    expect((await get(base, '/plain')).cache).toBe('HIT')
    expect(origin.requests()).toBe(1)
  })

  it('rejects --disk together with --redis', async () => {
    await expect(runMain(['--disk', '/tmp/x', '--redis', 'redis://127.0.0.1:1'])).rejects.toThrow(
      /exclusive/,
    )
  })
})
