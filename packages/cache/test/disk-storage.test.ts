import diagnosticsChannel from 'node:diagnostics_channel'
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { CHANNEL_NAMES, type StorageErrorMessage } from '../src/diagnostics.ts'
import { DiskStorage } from '../src/disk-storage.ts'
import { CacheKey } from '../src/key.ts'
import { makeMeta, readAll, store } from './storage-conformance.ts'

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pingora-disk-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function entryFiles(dir: string): string[] {
  const files: string[] = []
  for (const fan of readdirSync(dir)) {
    if (!/^[0-9a-f]{2}$/.test(fan)) continue
    for (const name of readdirSync(join(dir, fan))) files.push(join(dir, fan, name))
  }
  return files
}

function collectCorrupt(): StorageErrorMessage[] {
  const seen: StorageErrorMessage[] = []
  const listener = (message: unknown) => seen.push(message as StorageErrorMessage)
  diagnosticsChannel.subscribe(CHANNEL_NAMES.storageCorrupt, listener)
  onTestFinished(() => {
    diagnosticsChannel.unsubscribe(CHANNEL_NAMES.storageCorrupt, listener)
  })
  return seen
}

describe('DiskStorage', () => {
  it('survives a restart: a new instance on the directory finds the entry', async () => {
    const directory = tempDir()
    const first = await DiskStorage.open({ directory, maxBytes: 10_000_000 })
    const key = new CacheKey('', 'persist')
    await store(first, key, makeMeta({ etag: '"p"' }), Buffer.from('persisted body'))
    const second = await DiskStorage.open({ directory, maxBytes: 10_000_000 })
    expect(second.size).toBe(1)
    const found = await second.lookup(key)
    expect(found?.meta.header.getHeader('etag')).toBe('"p"')
    expect(found && (await readAll(found.hit)).toString()).toBe('persisted body')
  })

  it('drops a truncated entry at start and publishes why', async () => {
    const directory = tempDir()
    const first = await DiskStorage.open({ directory, maxBytes: 10_000_000 })
    await store(first, new CacheKey('', 'a'), makeMeta(), Buffer.alloc(5000, 1))
    await store(first, new CacheKey('', 'b'), makeMeta(), Buffer.alloc(5000, 2))
    const [victim] = entryFiles(directory)
    if (victim === undefined) throw new Error('no entry file')
    truncateSync(victim, statSync(victim).size - 100)
    const seen = collectCorrupt()
    const second = await DiskStorage.open({ directory, maxBytes: 10_000_000 })
    expect(second.size).toBe(1)
    expect(entryFiles(directory).length).toBe(1)
    expect(seen.map((m) => m.operation)).toEqual(['load'])
  })

  it('detects a flipped body byte by checksum, fails the read and drops the entry', async () => {
    const directory = tempDir()
    const storage = await DiskStorage.open({ directory, maxBytes: 10_000_000 })
    const key = new CacheKey('', 'flip')
    await store(storage, key, makeMeta(), Buffer.alloc(20_000, 7))
    const [file] = entryFiles(directory)
    if (file === undefined) throw new Error('no entry file')
    const bytes = readFileSync(file)
    const index = bytes.length - 100
    bytes[index] = (bytes[index] as number) ^ 0xff
    writeFileSync(file, bytes)
    const found = await storage.lookup(key)
    if (found === undefined) throw new Error('size is intact, the lookup should succeed')
    await expect(readAll(found.hit)).rejects.toMatchObject({ type: 'FileReadError' })
    expect(await storage.lookup(key)).toBeUndefined()
    expect(entryFiles(directory)).toEqual([])
  })

  it('drops an entry whose file vanished or was garbled', async () => {
    const directory = tempDir()
    const storage = await DiskStorage.open({ directory, maxBytes: 10_000_000 })
    const key = new CacheKey('', 'garbled')
    await store(storage, key, makeMeta(), Buffer.from('x'))
    const [file] = entryFiles(directory)
    if (file === undefined) throw new Error('no entry file')
    writeFileSync(file, 'not an entry')
    expect(await storage.lookup(key)).toBeUndefined()
    expect(storage.size).toBe(0)
  })

  it('removes leftover temporary files at start', async () => {
    const directory = tempDir()
    const first = await DiskStorage.open({ directory, maxBytes: 10_000_000 })
    const miss = await first.getMissHandler(new CacheKey('', 'crash'), makeMeta())
    await miss.writeBody(Buffer.from('half'))
    expect(readdirSync(join(directory, '.tmp')).length).toBe(1)
    await DiskStorage.open({ directory, maxBytes: 10_000_000 })
    expect(readdirSync(join(directory, '.tmp')).length).toBe(0)
    await miss.abort()
  })

  it('stays within its byte bound, deleting evicted files', async () => {
    const directory = tempDir()
    const storage = await DiskStorage.open({ directory, maxBytes: 50_000 })
    for (let i = 0; i < 20; i++)
      await store(storage, new CacheKey('', `e${i}`), makeMeta(), Buffer.alloc(10_000, i))
    expect(storage.bytes).toBeLessThanOrEqual(50_000)
    const files = entryFiles(directory)
    expect(files.length).toBe(storage.size)
    expect(files.reduce((sum, f) => sum + statSync(f).size, 0)).toBeLessThanOrEqual(50_000)
  })

  it('bounds the index rebuilt at start by the byte limit too', async () => {
    const directory = tempDir()
    const big = await DiskStorage.open({ directory, maxBytes: 10_000_000 })
    for (let i = 0; i < 10; i++)
      await store(big, new CacheKey('', `r${i}`), makeMeta(), Buffer.alloc(10_000, i))
    const small = await DiskStorage.open({ directory, maxBytes: 30_000 })
    expect(small.bytes).toBeLessThanOrEqual(30_000)
    expect(entryFiles(directory).length).toBe(small.size)
  })
})
