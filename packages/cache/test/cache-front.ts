// A small caching HTTP front (node:http in, node:http to the origin) that drives HttpCache the
// way the proxy's cache phases will: the reference driver for the cache state machine's
// integration tests. Not published.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { RequestHeader, ResponseHeader } from '@pingora-ts/http'
import { CacheControl } from '../src/cache-control.ts'
import { notModifiedFilter, toNotModified } from '../src/conditional.ts'
import { requestCacheable, respCacheable, varyNames } from '../src/filters.ts'
import {
  HttpCache,
  type HttpCacheOptions,
  invalidationTargets,
  type VaryFilter,
} from '../src/http-cache.ts'
import { CacheKey } from '../src/key.ts'
import { CacheMetaDefaults } from '../src/meta.ts'
import { RangeBodyFilter, rangeHeaderFilter } from '../src/range.ts'
import { VarianceBuilder } from '../src/variance.ts'

export interface FrontOptions extends Omit<HttpCacheOptions, 'now'> {
  origin: string
  defaults?: CacheMetaDefaults
  /** Serve stale while revalidating (should_serve_stale(None)). */
  serveStaleWhileRevalidate?: boolean
  purge?: boolean
  /** Observes each request's final cache state (the `logging` phase). */
  onLog?: (phase: string, reason: string | undefined) => void
  /** Resolves when a background refresh finishes. */
  onBackgroundDone?: () => void
  now?: () => number
}

export const varyFilter: VaryFilter = (meta, request) => {
  const names = varyNames(meta.header)
  if (names === undefined || names === '*') return undefined
  const builder = new VarianceBuilder()
  for (const name of names) builder.addValue(name, request.getHeaderAll(name).join(', '))
  return builder.finalize()
}

function toRequestHeader(req: http.IncomingMessage): RequestHeader {
  const header = RequestHeader.build(req.method ?? 'GET', req.url ?? '/')
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    header.appendHeader(req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string)
  return header
}

function sendHeader(res: http.ServerResponse, header: ResponseHeader, cacheStatus: string): void {
  const headers: [string, string][] = []
  for (const [name, value] of header.headers) headers.push([name, value])
  headers.push(['X-Cache-Status', cacheStatus])
  res.writeHead(header.status, headers.flat() as unknown as http.OutgoingHttpHeaders)
}

interface OriginResponse {
  header: ResponseHeader
  body: http.IncomingMessage
}

function fetchOrigin(origin: string, request: RequestHeader): Promise<OriginResponse> {
  const url = new URL(origin)
  const headers: string[] = []
  for (const [name, value] of request.headers) headers.push(name, value)
  return new Promise((resolve, reject) => {
    const upstream = http.request({
      host: url.hostname,
      port: url.port,
      method: request.method,
      path: request.uri,
      headers,
      agent: false,
    })
    upstream.on('response', (body) => {
      const header = ResponseHeader.build(body.statusCode ?? 502)
      for (let i = 0; i < body.rawHeaders.length; i += 2)
        header.appendHeader(body.rawHeaders[i] as string, body.rawHeaders[i + 1] as string)
      resolve({ header, body })
    })
    upstream.on('error', reject)
    upstream.end()
  })
}

export async function startCacheFront(
  options: FrontOptions,
): Promise<{ url: string; close: () => Promise<void> }> {
  const defaults = options.defaults ?? new CacheMetaDefaults(() => undefined)
  const now = options.now ?? Date.now
  const cacheOptions: HttpCacheOptions = { ...options, now }
  const keyOf = (request: RequestHeader, target = request.uri) =>
    new CacheKey('', `${request.getHeader('host') ?? ''}${target}`)

  const decide = (request: RequestHeader, header: ResponseHeader) =>
    respCacheable(
      CacheControl.fromHeaders(header.headers),
      header,
      request.headers.has('authorization'),
      defaults,
      now(),
    )

  async function serveFromCache(
    cache: HttpCache,
    request: RequestHeader,
    res: http.ServerResponse,
    header = cache.responseHeader(),
  ): Promise<void> {
    const hit = cache.hitHandler
    if (header === undefined || hit === undefined) throw new Error('no cached response')
    if (cache.phase === 'Revalidated' || cache.phase === 'RevalidatedNoCache')
      header.insertHeader('Age', String(cache.meta?.ageSec(now()) ?? 0))
    if (notModifiedFilter(request, header)) {
      toNotModified(header)
      sendHeader(res, header, cache.phase)
      res.end()
      await cache.finishHit()
      return
    }
    const contentType = header.getHeader('content-type')
    const length = Number(header.getHeader('content-length') ?? Number.NaN)
    const range = rangeHeaderFilter(request, header)
    sendHeader(res, header, cache.phase)
    if (request.method === 'HEAD' || range.kind === 'invalid') {
      res.end()
      await cache.finishHit()
      return
    }
    let filter: RangeBodyFilter | undefined
    if (range.kind === 'single' && hit.canSeek) hit.seek(range.range)
    else if (range.kind !== 'none') filter = new RangeBodyFilter(range, contentType, length)
    try {
      for (;;) {
        const chunk = await hit.readBody()
        if (chunk === undefined) break
        res.write(filter ? filter.filter(chunk, false) : chunk)
      }
      if (filter) res.write(filter.filter(new Uint8Array(0), true))
      res.end()
    } catch {
      res.destroy()
    } finally {
      await cache.finishHit()
    }
  }

  // Goes to the origin for a miss, an expired hit or a bypass, storing what is cacheable.
  async function proxyUpstream(
    cache: HttpCache,
    request: RequestHeader,
    res: http.ServerResponse | undefined,
  ): Promise<void> {
    const upstreamRequest = request.clone()
    if (cache.enabled) cache.upstreamRequestFilter(upstreamRequest)
    let response: OriginResponse
    try {
      response = await fetchOrigin(options.origin, upstreamRequest)
    } catch {
      if (cache.canServeStaleError()) {
        cache.setStale()
        if (res) await serveFromCache(cache, request, res)
        return
      }
      cache.disable('UpstreamError')
      if (res) {
        res.writeHead(502, { 'X-Cache-Status': cache.phase })
        res.end()
      }
      return
    }
    const { header, body } = response
    // RFC 9111 section 4.4: a successful unsafe request invalidates before it is answered.
    if (!cache.enabled) {
      const invalidator = new HttpCache()
      invalidator.enable(cacheOptions)
      for (const target of invalidationTargets(request, header)) {
        invalidator.setCacheKey(keyOf(request, target))
        await invalidator.purge(request, varyFilter)
      }
    }
    if (header.status >= 500 && cache.canServeStaleError()) {
      body.resume()
      cache.setStale()
      if (res) await serveFromCache(cache, request, res)
      return
    }
    if (header.status === 304 && cache.phase === 'Expired') {
      body.resume()
      const merged = await cache.revalidated(header, (h) => {
        const d = decide(request, h)
        return d.cacheable ? { meta: d.meta } : { reason: d.reason }
      })
      if (res) await serveFromCache(cache, request, res, merged)
      else await cache.finishHit()
      return
    }
    if (cache.phase === 'Expired') await cache.finishHit()
    if (cache.enabled) {
      const decision = decide(request, header)
      if (decision.cacheable) await cache.admit(decision.meta, varyFilter(decision.meta, request))
      else cache.responseUncacheable(decision.reason)
    }
    const downstream = header.clone()
    let filter: RangeBodyFilter | undefined
    let notModified = false
    if (cache.enabled) {
      if (notModifiedFilter(request, downstream)) {
        toNotModified(downstream)
        notModified = true
      } else {
        const range = rangeHeaderFilter(request, header.clone())
        if (range.kind !== 'none') {
          const length = Number(header.getHeader('content-length'))
          rangeHeaderFilter(request, downstream)
          filter = new RangeBodyFilter(range, header.getHeader('content-type'), length)
        }
      }
    }
    if (res) sendHeader(res, downstream, cache.phase)
    const clientGone = () => res === undefined || res.destroyed
    for await (const chunk of body as AsyncIterable<Buffer>) {
      await cache.writeBody(chunk)
      if (!clientGone() && !notModified && request.method !== 'HEAD')
        res?.write(filter ? filter.filter(chunk, false) : chunk)
      // Without a cache fill there is nothing left to do once the client left.
      if (clientGone() && !cache.enabled) {
        body.destroy()
        return
      }
    }
    await cache.finishFill()
    if (!clientGone()) {
      if (filter && !notModified && request.method !== 'HEAD')
        res?.write(filter.filter(new Uint8Array(0), true))
      res?.end()
    }
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const request = toRequestHeader(req)
    req.resume()
    const cache = new HttpCache()
    try {
      if (options.purge && request.method === 'PURGE') {
        cache.enable(cacheOptions)
        cache.setCacheKey(keyOf(request))
        const removed = await cache.purge(request, varyFilter)
        res.writeHead(removed ? 200 : 404)
        res.end()
        return
      }
      // requestCacheFilter
      if (requestCacheable(request)) cache.enable(cacheOptions)
      if (cache.enabled) {
        cache.setCacheKey(keyOf(request))
        if (cache.predictedUncacheable()) cache.bypass()
        else {
          for (;;) {
            const found = await cache.lookup(request, varyFilter)
            if (found !== undefined) {
              cache.cacheFound(found.meta, found.hit, cache.hitStatus(found.meta))
              if (cache.phase === 'Hit') {
                await serveFromCache(cache, request, res)
                return
              }
            } else cache.cacheMiss()
            const lock = await cache.lockOrWait()
            if (lock === 'write') {
              if (
                cache.phase === 'Expired' &&
                options.serveStaleWhileRevalidate &&
                cache.canServeStaleUpdating()
              ) {
                const background = cache.spawnBackgroundRefresh()
                proxyUpstream(background, request, undefined)
                  .finally(() => background.finish())
                  .then(() => options.onBackgroundDone?.())
                  .catch(() => undefined)
                await serveFromCache(cache, request, res)
                return
              }
              break
            }
            if (cache.phase === 'Expired') await cache.finishHit()
            if (lock === 'GiveUp') {
              cache.disable('CacheLockGiveUp')
              break
            }
            if (lock === 'WaitTimeout') {
              cache.disable('CacheLockTimeout')
              break
            }
          }
        }
      }
      await proxyUpstream(cache, request, res)
    } catch {
      if (!res.headersSent) res.writeHead(500)
      res.end()
    } finally {
      await cache.finish()
      options.onLog?.(cache.phase, cache.noCacheReason)
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => res.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

export interface ClientResponse {
  status: number
  headers: http.IncomingHttpHeaders
  body: Buffer
}

export function get(
  url: string,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(path, url)
    const request = http.request({
      host: target.hostname,
      port: target.port,
      path: target.pathname + target.search,
      method,
      headers: { host: 'example.test', ...headers },
      agent: false,
    })
    request.on('response', (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks),
        }),
      )
      response.on('error', reject)
    })
    request.on('error', reject)
    request.end()
  })
}
