import { HttpPeer, Server } from '@pingora-ts/core'
import { ErrorType, PingoraError } from '@pingora-ts/error'
import type { ResponseHeader } from '@pingora-ts/http'
import { httpProxyService, type ProxyHttp, type Session } from '@pingora-ts/proxy'

/** The largest JSON body buffered for rewriting unless configured (1 MiB). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024

/** What the rewriting proxy talks to and what it removes. */
export interface JsonRewriteOptions {
  /** The origin (`host:port`). */
  readonly upstream: string
  /** Keys removed from every object in the JSON body, at any depth. */
  readonly redactKeys: readonly string[]
  /**
   * The largest body buffered for rewriting, in bytes. A response that declares a larger
   * `Content-Length` is passed through untouched; a chunked one that grows past it is aborted.
   * @defaultValue {@link DEFAULT_MAX_BODY_BYTES}
   */
  readonly maxBodyBytes?: number
}

/** Per-request state: whether this response is rewritten, and its body so far. */
export interface JsonRewriteCtx {
  /** Set by `responseFilter` when the response is a JSON body we rewrite. */
  rewrite: boolean
  /** The upstream body chunks buffered so far. */
  chunks: Uint8Array[]
  /** Their total size in bytes. */
  size: number
}

/**
 * Rewrites JSON responses, after Pingora's `modify_response.rs` (which turns JSON into YAML):
 * `responseFilter` decides whether the response is rewritten and drops its `Content-Length`
 * (the new length is unknown until the end), `responseBodyFilter` buffers every chunk in the
 * ctx and sends nothing, and at the end of the stream parses the JSON, removes the redacted
 * keys and emits the new body in one chunk.
 *
 * Written as a plain object (`satisfies ProxyHttp<Ctx>`) whose phases close over the options:
 * the other way to implement `ProxyHttp`, next to a class.
 *
 * @param options - the origin, the keys to remove and the buffer bound
 * @throws RangeError when `maxBodyBytes` is not a positive integer
 */
export function jsonRewrite(options: JsonRewriteOptions): ProxyHttp<JsonRewriteCtx> {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw new RangeError(`maxBodyBytes must be a positive integer, got ${String(maxBodyBytes)}`)
  }
  const peer = new HttpPeer(options.upstream, false, '')
  const redactKeys: ReadonlySet<string> = new Set(options.redactKeys)

  const shouldRewrite = (session: Session, response: ResponseHeader): boolean => {
    if (session.requestHeader.method === 'HEAD' || response.status !== 200) return false
    const type = response.getHeader('Content-Type')
    if (type === undefined || !/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) return false
    const encoding = response.getHeader('Content-Encoding')
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false
    const length = response.getHeader('Content-Length')
    // Declared too large: pass it through untouched rather than fail it later.
    return length === undefined || Number(length) <= maxBodyBytes
  }

  return {
    newCtx: () => ({ rewrite: false, chunks: [], size: 0 }),

    upstreamPeer: () => peer,

    upstreamRequestFilter(_session, upstreamRequest) {
      // We must read the body: ask the origin not to compress it.
      upstreamRequest.insertHeader('Accept-Encoding', 'identity')
    },

    responseFilter(session, upstreamResponse, ctx) {
      if (!shouldRewrite(session, upstreamResponse)) return
      ctx.rewrite = true
      // The rewritten body's length is known only at the end: send it chunked.
      upstreamResponse.removeHeader('Content-Length')
    },

    responseBodyFilter(_session, body, endOfStream, ctx) {
      if (!ctx.rewrite) return body
      if (body !== undefined && body.length > 0) {
        ctx.size += body.length
        if (ctx.size > maxBodyBytes) {
          // The status line is already sent; aborting the response is the only honest answer.
          throw PingoraError.upstream(
            ErrorType.Custom('ResponseBodyTooLarge'),
            `JSON body larger than ${maxBodyBytes} bytes`,
          )
        }
        ctx.chunks.push(body)
      }
      if (!endOfStream) return undefined // hold the chunk back: nothing is sent yet
      const text = Buffer.concat(ctx.chunks, ctx.size).toString('utf8')
      ctx.chunks.length = 0
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch (error) {
        // Never pass on a body we were asked to rewrite (it may hold what should be removed).
        throw PingoraError.upstream(
          ErrorType.Custom('InvalidJsonBody'),
          'the origin sent invalid JSON',
          error,
        )
      }
      return Buffer.from(JSON.stringify(redact(value, redactKeys)))
    },
  } satisfies ProxyHttp<JsonRewriteCtx>
}

/**
 * Returns a copy of a parsed JSON value without the given keys in any object, at any depth.
 * @param value - the parsed JSON
 * @param keys - the keys to remove
 */
export function redact(value: unknown, keys: ReadonlySet<string>): unknown {
  if (Array.isArray(value)) return value.map((item) => redact(item, keys))
  if (value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(value)) {
    if (!keys.has(key)) out[key] = redact(item, keys)
  }
  return out
}

/** A proxy started by {@link startJsonRewrite}. */
export interface RunningProxy {
  /** The port it listens on. */
  readonly port: number
  /**
   * Stops it: at once (closes the listener and every connection), or with `graceful` after
   * the requests in flight finish.
   */
  close(graceful?: boolean): Promise<void>
}

/**
 * Starts the rewriting proxy in a `Server` and resolves once it listens.
 * @param options - origin, redacted keys, buffer bound
 * @param listen - where to listen; port 0 picks a free port @defaultValue `'127.0.0.1:0'`
 */
export async function startJsonRewrite(
  options: JsonRewriteOptions,
  listen = '127.0.0.1:0',
): Promise<RunningProxy> {
  const server = new Server()
  server.bootstrap()
  const service = httpProxyService(server.configuration, jsonRewrite(options))
  service.addTcp(listen)
  server.addService(service)
  await server.start()
  return {
    port: service.boundAddress().port,
    close: (graceful = false) => server.shutdown({ graceful }),
  }
}
