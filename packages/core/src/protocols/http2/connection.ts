import http2 from 'node:http2'
import type net from 'node:net'
import { PingoraError } from '@pingora-ts/error'
import type { ReusedHttpStream } from '../http/reused-http-stream.ts'
import type { ServerSession } from '../http/server-session.ts'
import { serveNativeH2Connection } from './native-connection.ts'
import { Http2ServerSession } from './server.ts'

const { NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants

/** How long a graceful shutdown waits for the PING answer between its two GOAWAY frames. */
const GOAWAY_PING_WAIT_MS = 1_000

/** The largest stream id (2^31 - 1): the first GOAWAY of a graceful shutdown names it. */
const MAX_STREAM_ID = 2 ** 31 - 1

/**
 * HTTP/2 settings and limits of a server (Pingora's `H2Options` with nginx's defaults where
 * Pingora has none). Every value is bounded so one connection cannot take unbounded memory or
 * CPU: streams, header list size, session memory, invalid frames, rejected streams, pings and
 * settings are all limited (nghttp2 also rate-limits stream resets: CVE-2023-44487).
 */
export interface H2Options {
  /** Streams a client may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). @defaultValue `100` */
  readonly maxConcurrentStreams?: number
  /**
   * Flow-control window of each stream, in bytes (SETTINGS_INITIAL_WINDOW_SIZE). Node's
   * default 64 KiB caps a stream at a few MB/s on a long round trip. @defaultValue `1048576`
   */
  readonly initialWindowSize?: number
  /** Flow-control window of the whole connection, in bytes. @defaultValue `8388608` */
  readonly connectionWindowSize?: number
  /** Largest frame payload the server accepts (SETTINGS_MAX_FRAME_SIZE). @defaultValue `16384` */
  readonly maxFrameSize?: number
  /** Largest request header list, in bytes (SETTINGS_MAX_HEADER_LIST_SIZE). @defaultValue `65536` */
  readonly maxHeaderListSize?: number
  /** Most fields in one header block. @defaultValue `128` */
  readonly maxHeaderListPairs?: number
  /** Memory one session may hold, in MiB, before new streams are refused. @defaultValue `10` */
  readonly maxSessionMemoryMb?: number
  /**
   * A connection with no open stream for this long is closed with GOAWAY. The `'native'` engine
   * also closes one with open streams when the client stopped in the middle of a frame or of a
   * header block for this long. @defaultValue `60000`
   */
  readonly idleTimeoutMs?: number
  /** Send a PING this often; `undefined` sends none. @defaultValue `undefined` */
  readonly pingIntervalMs?: number | undefined
  /** Close the connection when a PING is not answered within this time. @defaultValue `20000` */
  readonly pingTimeoutMs?: number
  /** How long one body write may wait for the flow-control window. @defaultValue `60000` */
  readonly writeTimeoutMs?: number
  /**
   * Streams that may end in a reset (by the client, or by the server provoked by the client)
   * per second on one connection before it is closed with GOAWAY(ENHANCE_YOUR_CALM): the bound
   * on rapid reset (CVE-2023-44487) and MadeYouReset (CVE-2025-8671), whatever nghttp2 version
   * the Node runtime carries. @defaultValue `200`
   */
  readonly maxResetsPerSecond?: number
  /**
   * How long the client may take to acknowledge the server's SETTINGS before the connection is
   * closed with GOAWAY(SETTINGS_TIMEOUT) (RFC 9113 §6.5.3). Enforced by the `'native'` engine;
   * `node:http2` has no such timer. @defaultValue `10000`
   */
  readonly settingsTimeoutMs?: number
  /**
   * Which HTTP/2 implementation serves the connection: `'native'` is pingora-ts's own frame
   * layer and HPACK codec, written for a lower CPU cost per request; `'node'` is `node:http2`
   * (nghttp2), kept as the fallback: both pass the same HTTP/2 server, attack and conformance
   * tests (ADR 0026). @defaultValue `'native'`
   */
  readonly engine?: H2Engine
}

/** The HTTP/2 server implementations {@link H2Options.engine} chooses from. */
export type H2Engine = 'node' | 'native'

/** {@link H2Options} with every default filled in, as {@link resolveH2Options} returns it. */
export type ResolvedH2Options = Required<Omit<H2Options, 'pingIntervalMs'>> & {
  pingIntervalMs: number | undefined
}

/** The defaults of {@link H2Options}. */
export const DEFAULT_H2_OPTIONS: Readonly<Required<Omit<H2Options, 'pingIntervalMs'>>> = {
  engine: 'native',
  maxConcurrentStreams: 100,
  initialWindowSize: 1024 * 1024,
  connectionWindowSize: 8 * 1024 * 1024,
  maxFrameSize: 16_384,
  maxHeaderListSize: 64 * 1024,
  maxHeaderListPairs: 128,
  maxSessionMemoryMb: 10,
  idleTimeoutMs: 60_000,
  pingTimeoutMs: 20_000,
  writeTimeoutMs: 60_000,
  maxResetsPerSecond: 200,
  settingsTimeoutMs: 10_000,
}

/** The HTTP/2 client connection preface (RFC 9113 §3.4). */
export const H2_PREFACE: Buffer = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')

/**
 * How the first bytes of a cleartext connection compare with the HTTP/2 preface: `'h2'` when
 * they start with it, `'h1'` when they cannot, `'more'` when they are a strict prefix of it.
 * @param data - the bytes read so far
 */
export function matchH2Preface(data: Buffer): 'h2' | 'h1' | 'more' {
  const length = Math.min(data.length, H2_PREFACE.length)
  for (let i = 0; i < length; i++) if (data[i] !== H2_PREFACE[i]) return 'h1'
  return data.length >= H2_PREFACE.length ? 'h2' : 'more'
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`H2Options.${name} must be a positive integer, got ${String(value)}`)
  }
  return value
}

/**
 * Checks {@link H2Options} and fills in the defaults.
 * @param options - the options
 * @throws RangeError when a value is not a positive integer or out of the protocol's range
 */
export function resolveH2Options(options: H2Options | undefined): ResolvedH2Options {
  const d = DEFAULT_H2_OPTIONS
  const engine = options?.engine ?? d.engine
  if (engine !== 'node' && engine !== 'native') {
    throw new RangeError(`H2Options.engine must be 'node' or 'native', got ${String(engine)}`)
  }
  const resolved: ResolvedH2Options = {
    engine,
    maxConcurrentStreams: positive(
      'maxConcurrentStreams',
      options?.maxConcurrentStreams,
      d.maxConcurrentStreams,
    ),
    initialWindowSize: positive(
      'initialWindowSize',
      options?.initialWindowSize,
      d.initialWindowSize,
    ),
    connectionWindowSize: positive(
      'connectionWindowSize',
      options?.connectionWindowSize,
      d.connectionWindowSize,
    ),
    maxFrameSize: positive('maxFrameSize', options?.maxFrameSize, d.maxFrameSize),
    maxHeaderListSize: positive(
      'maxHeaderListSize',
      options?.maxHeaderListSize,
      d.maxHeaderListSize,
    ),
    maxHeaderListPairs: positive(
      'maxHeaderListPairs',
      options?.maxHeaderListPairs,
      d.maxHeaderListPairs,
    ),
    maxSessionMemoryMb: positive(
      'maxSessionMemoryMb',
      options?.maxSessionMemoryMb,
      d.maxSessionMemoryMb,
    ),
    idleTimeoutMs: positive('idleTimeoutMs', options?.idleTimeoutMs, d.idleTimeoutMs),
    pingIntervalMs:
      options?.pingIntervalMs === undefined
        ? undefined
        : positive('pingIntervalMs', options.pingIntervalMs, 1),
    pingTimeoutMs: positive('pingTimeoutMs', options?.pingTimeoutMs, d.pingTimeoutMs),
    writeTimeoutMs: positive('writeTimeoutMs', options?.writeTimeoutMs, d.writeTimeoutMs),
    maxResetsPerSecond: positive(
      'maxResetsPerSecond',
      options?.maxResetsPerSecond,
      d.maxResetsPerSecond,
    ),
    settingsTimeoutMs: positive(
      'settingsTimeoutMs',
      options?.settingsTimeoutMs,
      d.settingsTimeoutMs,
    ),
  }
  if (resolved.initialWindowSize > 2 ** 31 - 1) {
    throw new RangeError('H2Options.initialWindowSize must be at most 2147483647')
  }
  if (resolved.connectionWindowSize > 2 ** 31 - 1) {
    throw new RangeError('H2Options.connectionWindowSize must be at most 2147483647')
  }
  if (resolved.maxFrameSize < 16_384 || resolved.maxFrameSize > 2 ** 24 - 1) {
    throw new RangeError('H2Options.maxFrameSize must be between 16384 and 16777215')
  }
  return resolved
}

/**
 * What {@link serveH2Connection} calls for each request stream: an `HttpServerApp`'s
 * `processNewHttp`, with its return value ignored (the connection is the engine's).
 */
export type H2StreamHandler = (session: ServerSession) => unknown

/**
 * Serves one HTTP/2 connection (after ALPN `h2`, or an h2c preface): takes the socket from
 * the {@link ReusedHttpStream}, runs nghttp2's server session on it and calls `handler` once per
 * request stream, concurrently. Resolves when the connection is closed.
 *
 * A graceful shutdown (`shutdown` aborts) sends two GOAWAY frames as RFC 9113 §6.8 advises:
 * first with the largest stream id (stop opening streams), then, one PING round trip later,
 * with the id of the last stream really processed; streams in flight finish, then the
 * connection closes.
 * @param connection - the accepted connection
 * @param handler - serves one stream
 * @param shutdown - aborted when the server starts to shut down
 * @param options - settings and limits
 */
export function serveH2Connection(
  connection: ReusedHttpStream,
  handler: H2StreamHandler,
  shutdown: AbortSignal,
  options: H2Options | undefined,
): Promise<undefined> {
  const settings = resolveH2Options(options)
  if (settings.engine === 'native') {
    return serveNativeH2Connection(connection, handler, shutdown, settings)
  }
  const stream = connection.stream
  const socket = stream.socket
  stream.detach()
  // A server-side TLSSocket made outside `tls.Server` keeps `secureConnecting` set after its
  // handshake (only tls.Server clears it), and node:http2 would then wait for a 'secureConnect'
  // that never comes. The handshake is done here, so say so.
  const tlsSocket = socket as net.Socket & { secureConnecting?: boolean }
  if (tlsSocket.secureConnecting === true) tlsSocket.secureConnecting = false
  return new Promise<undefined>((resolve) => {
    let session: http2.ServerHttp2Session
    try {
      session = http2.performServerHandshake(socket, {
        settings: {
          maxConcurrentStreams: settings.maxConcurrentStreams,
          initialWindowSize: settings.initialWindowSize,
          maxFrameSize: settings.maxFrameSize,
          maxHeaderListSize: settings.maxHeaderListSize,
          enablePush: false,
        },
        maxHeaderListPairs: settings.maxHeaderListPairs,
        maxSessionMemory: settings.maxSessionMemoryMb,
        maxOutstandingPings: 10,
        maxSettings: 32,
        maxSessionInvalidFrames: 1000,
        maxSessionRejectedStreams: 100,
      } as http2.ServerOptions)
    } catch {
      socket.destroy()
      resolve(undefined)
      return
    }
    let pingTimer: NodeJS.Timeout | undefined
    // Reset accounting: a fixed one-second window, checked when a stream closes with a reset.
    let resetWindowStart = 0
    let resets = 0
    const maxResets = settings.maxResetsPerSecond
    const onStreamClose = function (this: http2.ServerHttp2Stream): void {
      const code = this.rstCode
      // NO_ERROR counts too when the stream was aborted (reset before our side ended): the
      // code is the client's choice, and a rapid reset with NO_ERROR costs as much as with
      // CANCEL. A stream that closed normally, or that we reset after the whole response,
      // ends with NO_ERROR and is not aborted.
      if (code === undefined || (code === NGHTTP2_NO_ERROR && !this.aborted)) return
      const now = Date.now()
      if (now - resetWindowStart >= 1000) {
        resetWindowStart = now
        resets = 0
      }
      resets++
      if (resets > maxResets && !session.destroyed) {
        // Too many streams ended in resets: stop the connection before it costs more work.
        session.destroy(
          PingoraError.explain('H2Error', `more than ${maxResets} stream resets in a second`),
          NGHTTP2_ENHANCE_YOUR_CALM,
        )
      }
    }
    const onShutdown = (): void => {
      if (session.closed || session.destroyed) return
      const closeNow = (): void => {
        if (!session.closed && !session.destroyed) session.close()
      }
      try {
        session.goaway(NGHTTP2_NO_ERROR, MAX_STREAM_ID)
        // The second GOAWAY (from close) waits one PING round trip, but not longer than
        // GOAWAY_PING_WAIT_MS: some clients (node:http2) never answer a PING after a GOAWAY,
        // and the connection would then stay open until the grace period ends.
        const fallback = setTimeout(closeNow, GOAWAY_PING_WAIT_MS)
        fallback.unref()
        const sent = session.ping(() => {
          clearTimeout(fallback)
          closeNow()
        })
        if (!sent) {
          clearTimeout(fallback)
          closeNow()
        }
      } catch {
        closeNow()
      }
    }
    session.on('error', () => {
      // nghttp2 already answered a protocol error with GOAWAY; the socket closes with it.
    })
    session.on('close', () => {
      if (pingTimer !== undefined) clearInterval(pingTimer)
      shutdown.removeEventListener('abort', onShutdown)
      resolve(undefined)
    })
    session.once('connect', () => {
      try {
        session.setLocalWindowSize(settings.connectionWindowSize)
      } catch {
        // Closed meanwhile.
      }
    })
    session.setTimeout(settings.idleTimeoutMs, () => {
      // No frame for the idle time: close gracefully (streams in flight, if any, finish).
      if (!session.closed) session.close()
    })
    if (settings.pingIntervalMs !== undefined) {
      const pingTimeoutMs = settings.pingTimeoutMs
      pingTimer = setInterval(() => {
        if (session.destroyed) return
        const deadline = setTimeout(() => session.destroy(), pingTimeoutMs)
        const sent = session.ping(() => clearTimeout(deadline))
        if (!sent) clearTimeout(deadline)
      }, settings.pingIntervalMs)
      pingTimer.unref()
    }
    session.on(
      'stream',
      (
        h2stream: http2.ServerHttp2Stream,
        headers: http2.IncomingHttpHeaders,
        _flags: number,
        rawHeaders: string[],
      ) => {
        h2stream.on('close', onStreamClose)
        const served = new Http2ServerSession(connection, h2stream, headers, rawHeaders)
        served.setWriteTimeout(settings.writeTimeoutMs)
        let result: unknown
        try {
          result = handler(served)
        } catch {
          served.shutdown()
          return
        }
        if (isPromiseLike(result)) {
          result.then(
            () => served.finish(),
            () => {
              if (!h2stream.closed) h2stream.close(NGHTTP2_INTERNAL_ERROR)
            },
          )
        } else {
          void served.finish() // never rejects: it resolves a shared settled promise
        }
      },
    )
    if (shutdown.aborted) onShutdown()
    else shutdown.addEventListener('abort', onShutdown, { once: true })
  })
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as Partial<PromiseLike<unknown>> | undefined)?.then === 'function'
}
