import dgram from 'node:dgram'
import net from 'node:net'
import { hostname } from 'node:os'
import pino from 'pino'
import { channels } from './diagnostics.ts'

/**
 * Where a logger writes, as a pino destination: it never blocks the event loop, holds at most
 * a bounded number of bytes waiting for the destination, and counts what it had to drop.
 */
export interface LogDestination extends pino.DestinationStream {
  /** What the destination is, as given (`stderr`, a path, `syslog+udp://...`). */
  readonly spec: string
  /** Log lines dropped so far because the buffer was full or the destination unreachable. */
  readonly dropped: number
  /** Writes what is buffered and closes the destination. */
  close(): Promise<void>
}

/** Options of {@link createLogDestination}. */
export interface LogDestinationOptions {
  /**
   * The most bytes waiting for a slow destination; a line that does not fit is dropped and
   * counted. @defaultValue `DEFAULT_LOG_BUFFER_BYTES` (1 MiB)
   */
  readonly maxBufferBytes?: number
  /** Syslog: the facility, 0 to 23. @defaultValue `16` (`local0`) */
  readonly facility?: number
  /** Syslog: the APP-NAME field. @defaultValue `'pingora'` */
  readonly appName?: string
  /**
   * Syslog: the longest message sent, in bytes; a longer one is cut (RFC 5426 asks receivers to
   * take at least 2048). @defaultValue `8192`
   */
  readonly maxMessageBytes?: number
}

/** Default bound of a destination's buffer, in bytes. */
export const DEFAULT_LOG_BUFFER_BYTES = 1024 * 1024

/**
 * Opens a log destination from its configuration string:
 *
 * - `stdout`, `stderr`: the process's standard streams;
 * - a file path: appended to (created with its folders if missing);
 * - `syslog+udp://host:port`: RFC 5424 messages in UDP datagrams (RFC 5426);
 * - `syslog+unix:/path`: RFC 5424 messages over a Unix stream socket, octet-counted (RFC 6587).
 *
 * Writes are asynchronous; a slow destination fills a buffer bounded by `maxBufferBytes`, and
 * lines that do not fit are dropped, counted in {@link LogDestination.dropped} and published on
 * `pingora:log:dropped`.
 * @param spec - the destination
 * @param options - buffer bound and syslog fields
 * @throws TypeError for a `syslog+` spec that is not a valid address
 */
export function createLogDestination(
  spec: string,
  options: LogDestinationOptions = {},
): LogDestination {
  const maxBufferBytes = options.maxBufferBytes ?? DEFAULT_LOG_BUFFER_BYTES
  if (spec.startsWith('syslog+udp://')) {
    const url = new URL(spec.replace('syslog+udp', 'http'))
    const port = Number(url.port)
    if (url.hostname === '' || !(port > 0)) {
      throw new TypeError(`invalid syslog address: ${spec} (expected syslog+udp://host:port)`)
    }
    return new SyslogDestination(spec, { kind: 'udp', host: url.hostname, port }, options)
  }
  if (spec.startsWith('syslog+unix:')) {
    const path = spec.slice('syslog+unix:'.length)
    if (path === '')
      throw new TypeError(`invalid syslog address: ${spec} (expected syslog+unix:/path)`)
    return new SyslogDestination(spec, { kind: 'unix', path }, options)
  }
  return new StreamDestination(spec, maxBufferBytes)
}

/** A standard stream or a file, through pino's asynchronous SonicBoom. */
class StreamDestination implements LogDestination {
  readonly spec: string
  #dropped = 0
  readonly #boom: ReturnType<typeof pino.destination>
  #closing: Promise<void> | undefined

  constructor(spec: string, maxBufferBytes: number) {
    this.spec = spec
    const target =
      spec === 'stdout' ? { fd: 1 } : spec === 'stderr' ? { fd: 2 } : { dest: spec, mkdir: true }
    this.#boom = pino.destination({ ...target, sync: false, maxLength: maxBufferBytes })
    this.#boom.on('drop', () => {
      this.#dropped++
      publishDropped(this.spec, this.#dropped)
    })
    // A failing file (disk full, removed folder) must not crash the process.
    this.#boom.on('error', () => {})
  }

  get dropped(): number {
    return this.#dropped
  }

  write(line: string): void {
    this.#boom.write(line)
  }

  close(): Promise<void> {
    const boom = this.#boom
    if (this.#closing !== undefined) return this.#closing
    this.#closing = new Promise((resolve) => {
      boom.once('close', () => resolve())
      boom.once('error', () => resolve())
      boom.end()
    })
    return this.#closing
  }
}

type SyslogTarget =
  | { readonly kind: 'udp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string }

// pino levels → syslog severities (RFC 5424 §6.2.1).
function severityOf(level: number): number {
  if (level >= 60) return 2 // fatal → critical
  if (level >= 50) return 3 // error
  if (level >= 40) return 4 // warning
  if (level >= 30) return 6 // informational
  return 7 // debug, trace
}

const RECONNECT_DELAY_MS = 1000

/**
 * Sends every line as an RFC 5424 message: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID - -
 * MSG`, the pino JSON line as MSG. UDP datagrams are sent as they come (at most
 * `maxBufferBytes` in flight); on a Unix stream socket each message is prefixed by its length
 * (RFC 6587 octet counting) and what waits for the socket is bounded the same way. A socket
 * that fails is reconnected on the next line after a second; lines meanwhile are dropped.
 */
class SyslogDestination implements LogDestination {
  readonly spec: string
  /** pino sets `lastLevel` before each write when this is set. */
  readonly [pino.symbols.needsMetadataGsym] = true as const
  lastLevel = 30
  lastTime = ''
  lastMsg = ''
  lastObj: object = {}
  lastLogger: pino.Logger = undefined as unknown as pino.Logger
  #dropped = 0
  readonly #target: SyslogTarget
  readonly #header: string
  readonly #facility: number
  readonly #maxMessageBytes: number
  readonly #maxBufferBytes: number
  #udp: dgram.Socket | undefined
  #inFlight = 0
  #stream: net.Socket | undefined
  #failedAt = 0
  #closed = false

  constructor(spec: string, target: SyslogTarget, options: LogDestinationOptions) {
    this.spec = spec
    this.#target = target
    const facility = options.facility ?? 16
    if (!Number.isInteger(facility) || facility < 0 || facility > 23) {
      throw new RangeError(`syslog facility must be 0 to 23, got ${facility}`)
    }
    this.#facility = facility
    this.#maxMessageBytes = options.maxMessageBytes ?? 8192
    this.#maxBufferBytes = options.maxBufferBytes ?? DEFAULT_LOG_BUFFER_BYTES
    // HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA: fixed for the process (RFC 5424 §6.2).
    const app = (options.appName ?? 'pingora').replace(/[^!-~]/g, '_').slice(0, 48)
    this.#header = ` ${
      hostname()
        .replace(/[^!-~]/g, '_')
        .slice(0, 255) || '-'
    } ${app} ${process.pid} - - `
  }

  get dropped(): number {
    return this.#dropped
  }

  write(line: string): void {
    if (this.#closed) {
      this.#drop()
      return
    }
    const pri = this.#facility * 8 + severityOf(this.lastLevel)
    // The JSON line without its newline is the MSG (RFC 5424 §6.4: free-form, UTF-8).
    const end = line.endsWith('\n') ? line.length - 1 : line.length
    let message = Buffer.from(
      `<${pri}>1 ${new Date().toISOString()}${this.#header}${line.slice(0, end)}`,
      'utf8',
    )
    if (message.length > this.#maxMessageBytes) message = message.subarray(0, this.#maxMessageBytes)
    if (this.#target.kind === 'udp') this.#sendUdp(message, this.#target)
    else this.#sendStream(message, this.#target.path)
  }

  #sendUdp(message: Buffer, target: { host: string; port: number }): void {
    if (this.#inFlight + message.length > this.#maxBufferBytes) {
      this.#drop()
      return
    }
    if (this.#udp === undefined) {
      this.#udp = dgram.createSocket(net.isIPv6(target.host) ? 'udp6' : 'udp4')
      // An unreachable collector (ICMP) or a DNS failure: the datagram is lost, not the process.
      this.#udp.on('error', () => {})
      this.#udp.unref()
    }
    this.#inFlight += message.length
    this.#udp.send(message, target.port, target.host, (error) => {
      this.#inFlight -= message.length
      if (error) this.#drop()
    })
  }

  #sendStream(message: Buffer, path: string): void {
    let stream = this.#stream
    if (stream === undefined || stream.destroyed) {
      if (Date.now() - this.#failedAt < RECONNECT_DELAY_MS) {
        this.#drop()
        return
      }
      stream = this.#connect(path)
    }
    if (stream.writableLength + message.length > this.#maxBufferBytes) {
      this.#drop()
      return
    }
    // RFC 6587 §3.4.1 octet counting: `MSG-LEN SP SYSLOG-MSG`.
    stream.write(`${message.length} `)
    stream.write(message)
  }

  #connect(path: string): net.Socket {
    const stream = net.connect(path)
    stream.unref()
    stream.on('error', () => {
      this.#failedAt = Date.now()
    })
    stream.on('close', () => {
      if (this.#stream === stream) this.#stream = undefined
      // Whatever was still queued is lost with the socket.
      if (stream.writableLength > 0) this.#drop()
    })
    this.#stream = stream
    return stream
  }

  #drop(): void {
    this.#dropped++
    publishDropped(this.spec, this.#dropped)
  }

  async close(): Promise<void> {
    this.#closed = true
    const udp = this.#udp
    if (udp !== undefined) {
      this.#udp = undefined
      await new Promise<void>((resolve) => udp.close(() => resolve()))
    }
    const stream = this.#stream
    if (stream !== undefined && !stream.destroyed) {
      await new Promise<void>((resolve) => {
        stream.once('close', () => resolve())
        stream.end()
      })
    }
  }
}

function publishDropped(destination: string, dropped: number): void {
  if (channels.logDropped.hasSubscribers) channels.logDropped.publish({ destination, dropped })
}
