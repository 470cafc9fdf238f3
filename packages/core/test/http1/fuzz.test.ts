import { PingoraError } from '@pingora-ts/error'
import { describe, expect, it } from 'vitest'
import { echoHandler, exchange, startServer } from './helpers.ts'

/** mulberry32: a small seeded PRNG, so every run sends the same inputs. */
function rng(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const SEEDS = [
  'GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nConnection: close\r\n\r\n',
  'POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
  'POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n',
]
const INTERESTING = [0x00, 0x09, 0x0a, 0x0d, 0x20, 0x3a, 0x2c, 0x3b, 0x7f, 0x80, 0xff, 0x30, 0x66]

function mutate(input: Buffer, random: () => number): Buffer {
  const out = Buffer.from(input)
  const edits = 1 + Math.floor(random() * 3)
  let result = out
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * result.length)
    const kind = random()
    if (kind < 0.4) {
      result[at] = INTERESTING[Math.floor(random() * INTERESTING.length)] as number
    } else if (kind < 0.7) {
      result = Buffer.concat([result.subarray(0, at), result.subarray(at + 1)])
    } else {
      const byte = INTERESTING[Math.floor(random() * INTERESTING.length)] as number
      result = Buffer.concat([result.subarray(0, at), Buffer.from([byte]), result.subarray(at)])
    }
  }
  return result
}

describe('Http1ServerSession under mutated input', () => {
  it('answers or closes every mutated request without crashing, and only with typed errors', async () => {
    const { port, events } = await startServer(echoHandler, {
      readTimeoutMs: 200,
      keepaliveTimeoutMs: 200,
    })
    const random = rng(0x5eed)
    const statuses = new Map<string, number>()
    for (let i = 0; i < 150; i++) {
      const seed = Buffer.from(SEEDS[i % SEEDS.length] as string, 'latin1')
      const input = mutate(seed, random)
      const out = await exchange(port, input)
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(out)?.[1] ?? 'closed'
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
      if (status !== 'closed') expect(['200', '400', '414', '431', '505']).toContain(status)
    }
    for (let i = 0; i < 150; i++) await events.loopEnded()
    for (const error of events.errors) {
      expect(PingoraError.is(error)).toBe(true)
      expect((error as PingoraError).source).not.toBe('internal')
    }
    // The mutations exercise both outcomes.
    expect(statuses.get('200')).toBeGreaterThan(0)
    expect(statuses.get('400')).toBeGreaterThan(0)
  })
})
