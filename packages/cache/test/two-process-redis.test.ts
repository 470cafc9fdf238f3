import { type ChildProcess, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startOrigin, startRedis } from '@pingora-ts/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { get } from './cache-front.ts'

const here = dirname(fileURLToPath(import.meta.url))
const tsx = join(here, '..', 'node_modules', '.bin', 'tsx')

function startFront(origin: string, redisPort: number): Promise<string> {
  const child: ChildProcess = spawn(
    tsx,
    ['--conditions=@pingora-ts/source', join(here, 'front-main.ts'), origin, String(redisPort)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
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
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const match = /listening (\S+)/.exec(out)
      if (match) resolve(match[1] as string)
    })
    child.once('exit', (code) => reject(new Error(`front exited with ${code}`)))
  })
}

describe('two processes sharing RedisStorage', () => {
  it('serves from one process a response cached through the other', async () => {
    const redis = await startRedis()
    onTestFinished(redis.stop)
    let calls = 0
    const origin = await startOrigin((_req, res) => {
      calls++
      res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': 6 })
      res.end('shared')
    })
    onTestFinished(origin.close)
    const [first, second] = await Promise.all([
      startFront(origin.url, redis.port),
      startFront(origin.url, redis.port),
    ])
    const miss = await get(first, '/shared')
    expect([miss.headers['x-cache-status'], miss.body.toString()]).toEqual(['Miss', 'shared'])
    const hit = await get(second, '/shared')
    expect([hit.headers['x-cache-status'], hit.body.toString()]).toEqual(['Hit', 'shared'])
    expect(calls).toBe(1)
  }, 60_000)
})
