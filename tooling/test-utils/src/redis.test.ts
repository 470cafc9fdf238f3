import net from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { hasRedisServer, startRedis } from './redis.ts'

describe.skipIf(!hasRedisServer)('startRedis', () => {
  it('starts a server on a free port that answers PING and keeps no data on disk', async () => {
    const redis = await startRedis()
    onTestFinished(redis.stop)
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`)
    expect(await redis.command('PING')).toBe('PONG')
    expect(await redis.command('CONFIG', 'GET', 'save')).toEqual(['save', ''])
    expect(await redis.command('CONFIG', 'GET', 'appendonly')).toEqual(['appendonly', 'no'])
  })

  it('kills the server, refuses connections while down, and restarts on the same port', async () => {
    const redis = await startRedis()
    onTestFinished(redis.stop)
    await redis.command('SET', 'k', 'v')
    await redis.kill()
    expect(redis.isRunning()).toBe(false)
    const refused = await new Promise<string>((resolve) => {
      const socket = net.connect(redis.port, '127.0.0.1')
      socket.once('connect', () => resolve('connected'))
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? ''))
    })
    expect(refused).toBe('ECONNREFUSED')
    await redis.restart()
    expect(redis.isRunning()).toBe(true)
    expect(await redis.command('PING')).toBe('PONG')
    // No persistence: the restarted server is empty.
    expect(await redis.command('GET', 'k')).toBeNull()
  })

  it('pauses the server so commands stall, and resumes it', async () => {
    const redis = await startRedis()
    onTestFinished(redis.stop)
    redis.pause()
    let answered = false
    const reply = redis.command('PING').then((value) => {
      answered = true
      return value
    })
    // A round trip to another local server completes while the paused one stays silent.
    const other = await startRedis()
    onTestFinished(other.stop)
    expect(await other.command('PING')).toBe('PONG')
    expect(answered).toBe(false)
    redis.resume()
    expect(await reply).toBe('PONG')
  })

  it('stops twice without error', async () => {
    const redis = await startRedis()
    await redis.stop()
    await redis.stop()
    expect(redis.isRunning()).toBe(false)
  })

  it('runs a one-node cluster that rejects keys of different slots with CROSSSLOT', async () => {
    const redis = await startRedis({ cluster: true })
    onTestFinished(redis.stop)
    expect(String(await redis.command('CLUSTER', 'INFO'))).toContain('cluster_state:ok')
    await expect(redis.command('MSET', '{a}x', '1', '{a}y', '2')).resolves.toBe('OK')
    await expect(redis.command('MSET', 'a', '1', 'b', '2')).rejects.toThrow(/CROSSSLOT/)
  })
})
