// The one test suite every CacheStorage passes (memory, disk, Redis): see storage.test.ts.
import { randomBytes } from 'node:crypto'
import { ResponseHeader } from '@pingora-ts/http'
import { describe, expect, it } from 'vitest'
import { CacheKey } from '../src/key.ts'
import { CacheMeta } from '../src/meta.ts'
import type { CacheStorage, HitHandler } from '../src/storage.ts'

/** Creates a fresh, empty storage for one test (the suite closes nothing: register cleanup there). */
export type StorageFactory = () => Promise<CacheStorage>

export function makeMeta(fields: Record<string, string> = {}, freshSec = 60): CacheMeta {
  const header = ResponseHeader.build(200)
  for (const [name, value] of Object.entries(fields)) header.insertHeader(name, value)
  const now = Date.now()
  return new CacheMeta({
    createdMs: now,
    updatedMs: now,
    freshUntilMs: now + freshSec * 1000,
    staleWhileRevalidateSec: 1,
    staleIfErrorSec: 2,
    header,
  })
}

export async function readAll(hit: HitHandler): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for (;;) {
    const chunk = await hit.readBody()
    if (chunk === undefined) break
    chunks.push(chunk)
  }
  await hit.finish()
  return Buffer.concat(chunks)
}

export async function store(
  storage: CacheStorage,
  key: CacheKey,
  meta: CacheMeta,
  body: Buffer,
  pieces = 3,
): Promise<void> {
  const miss = await storage.getMissHandler(key, meta)
  const step = Math.max(1, Math.ceil(body.length / pieces))
  for (let i = 0; i < body.length; i += step) await miss.writeBody(body.subarray(i, i + step))
  await miss.finish()
}

let counter = 0
function freshKey(): CacheKey {
  counter++
  return new CacheKey('conformance', `example.com/${counter}/${randomBytes(4).toString('hex')}`)
}

export function describeStorageConformance(name: string, factory: StorageFactory): void {
  describe(`${name}: CacheStorage conformance`, () => {
    it('misses on an unknown key', async () => {
      const storage = await factory()
      expect(await storage.lookup(freshKey())).toBeUndefined()
    })

    it('returns the stored meta and body after finish', async () => {
      const storage = await factory()
      const key = freshKey()
      const meta = makeMeta({ 'content-type': 'text/plain', etag: '"v1"' })
      await store(storage, key, meta, Buffer.from('hello world'))
      const found = await storage.lookup(key)
      expect(found).toBeDefined()
      if (found === undefined) return
      expect(found.meta.header.status).toBe(200)
      expect(found.meta.header.getHeader('etag')).toBe('"v1"')
      expect(found.meta.freshUntilMs).toBe(meta.freshUntilMs)
      expect(found.meta.staleIfErrorSec).toBe(2)
      expect((await readAll(found.hit)).toString()).toBe('hello world')
    })

    it('stores an empty body', async () => {
      const storage = await factory()
      const key = freshKey()
      await store(storage, key, makeMeta(), Buffer.alloc(0))
      const found = await storage.lookup(key)
      expect(found === undefined ? 'missing' : (await readAll(found.hit)).length).toBe(0)
    })

    it('round-trips a 1 MiB body written in uneven chunks', async () => {
      const storage = await factory()
      const key = freshKey()
      const body = randomBytes(1024 * 1024 + 17)
      await store(storage, key, makeMeta(), body, 7)
      const found = await storage.lookup(key)
      expect(found !== undefined && (await readAll(found.hit)).equals(body)).toBe(true)
    })

    it('serves a byte range through seek', async () => {
      const storage = await factory()
      const key = freshKey()
      const body = randomBytes(300_000)
      await store(storage, key, makeMeta(), body, 5)
      const found = await storage.lookup(key)
      expect(found?.hit.canSeek).toBe(true)
      if (found === undefined) return
      found.hit.seek({ start: 100_000, end: 250_123 })
      expect((await readAll(found.hit)).equals(body.subarray(100_000, 250_124))).toBe(true)
    })

    it('keeps variants apart by variance', async () => {
      const storage = await factory()
      const plain = freshKey()
      const varied = new CacheKey(plain.namespace, plain.primary)
      varied.setVariance('0123456789abcdef0123456789abcdef')
      await store(storage, plain, makeMeta(), Buffer.from('plain'))
      await store(storage, varied, makeMeta(), Buffer.from('varied'))
      const a = await storage.lookup(plain)
      const b = await storage.lookup(varied)
      expect(a && (await readAll(a.hit)).toString()).toBe('plain')
      expect(b && (await readAll(b.hit)).toString()).toBe('varied')
    })

    it('replaces an entry with a newer write', async () => {
      const storage = await factory()
      const key = freshKey()
      await store(storage, key, makeMeta({ etag: '"1"' }), Buffer.from('first'))
      await store(storage, key, makeMeta({ etag: '"2"' }), Buffer.from('second body'))
      const found = await storage.lookup(key)
      expect(found?.meta.header.getHeader('etag')).toBe('"2"')
      expect(found && (await readAll(found.hit)).toString()).toBe('second body')
    })

    it('keeps the previous entry when a rewrite is aborted', async () => {
      const storage = await factory()
      const key = freshKey()
      await store(storage, key, makeMeta({ etag: '"1"' }), Buffer.from('kept'))
      const miss = await storage.getMissHandler(key, makeMeta({ etag: '"2"' }))
      await miss.writeBody(Buffer.from('partial'))
      await miss.abort()
      const found = await storage.lookup(key)
      expect(found?.meta.header.getHeader('etag')).toBe('"1"')
      expect(found && (await readAll(found.hit)).toString()).toBe('kept')
    })

    it('does not show an aborted first write', async () => {
      const storage = await factory()
      const key = freshKey()
      const miss = await storage.getMissHandler(key, makeMeta())
      await miss.writeBody(Buffer.from('partial'))
      await miss.abort()
      expect(await storage.lookup(key)).toBeUndefined()
    })

    it('purges an entry once', async () => {
      const storage = await factory()
      const key = freshKey()
      await store(storage, key, makeMeta(), Buffer.from('x'))
      expect(await storage.purge(key, 'invalidation')).toBe(true)
      expect(await storage.lookup(key)).toBeUndefined()
      expect(await storage.purge(key, 'invalidation')).toBe(false)
    })

    it('updates the meta and keeps the body', async () => {
      const storage = await factory()
      const key = freshKey()
      await store(storage, key, makeMeta({ etag: '"1"' }, 1), Buffer.from('body'))
      const newer = makeMeta({ etag: '"1"', 'x-revalidated': 'yes' }, 600)
      expect(await storage.updateMeta(key, newer)).toBe(true)
      const found = await storage.lookup(key)
      expect(found?.meta.header.getHeader('x-revalidated')).toBe('yes')
      expect(found?.meta.freshUntilMs).toBe(newer.freshUntilMs)
      expect(found && (await readAll(found.hit)).toString()).toBe('body')
      expect(await storage.updateMeta(freshKey(), newer)).toBe(false)
    })

    it('hides or streams an unfinished write as its streaming flag says', async () => {
      const storage = await factory()
      const key = freshKey()
      const miss = await storage.getMissHandler(key, makeMeta())
      await miss.writeBody(Buffer.from('abc'))
      const during = await storage.lookup(key)
      if (!storage.supportsStreamingPartialWrite) {
        expect(during).toBeUndefined()
        await miss.finish()
        return
      }
      expect(during).toBeDefined()
      if (during === undefined) return
      expect(Buffer.from((await during.hit.readBody()) ?? []).toString()).toBe('abc')
      const next = during.hit.readBody()
      await miss.writeBody(Buffer.from('def'))
      expect(Buffer.from((await next) ?? []).toString()).toBe('def')
      const end = during.hit.readBody()
      await miss.finish()
      expect(await end).toBeUndefined()
    })
  })
}
