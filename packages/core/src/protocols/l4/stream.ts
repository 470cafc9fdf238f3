import type net from 'node:net'
import { type ErrorSource, PingoraError } from '@pingora-ts/error'
import { clearFastTimeout, type FastTimer, setFastTimeout } from '@pingora-ts/timeout'
import { Digest } from '../digest.ts'

/**
 * Bytes read from the socket but not yet consumed are queued up to this many bytes; beyond it
 * the socket is paused until a reader takes them (TCP backpressure instead of unbounded memory).
 */
export const STREAM_READ_HIGH_WATER = 64 * 1024

/** Writes up to this size are copied into one buffer with deferred text instead of corked. */
const COALESCE_LIMIT = 16 * 1024

/** How long a gracefully closed connection waits for the peer's FIN before it is destroyed. */
export const STREAM_LINGER_MS = 5_000

/**
 * How long a connection waiting idle for its next request stays open once the server starts to
 * shut down gracefully. Closing it at once races with a client that is sending its next request
 * on it (the request is lost, the client sees a reset); within this window that request is
 * served, with `Connection: close`, and only a connection still idle at the end is closed.
 */
export const SHUTDOWN_IDLE_LINGER_MS = 1_000

let nextStreamId = 1

/**
 * Streams that wait (or have waited) for the first byte of a request with a shutdown signal
 * that may cancel the wait, by signal. One `abort` listener per signal serves every connection
 * (no per-request EventTarget churn, no listener-count warnings on a process-wide signal). A
 * stream joins its signal's set once per connection and leaves it when it closes; between
 * requests only its idle flag changes (no set operations per request).
 */
const idleStreams = new WeakMap<AbortSignal, Set<Stream>>()

/** @internal What {@link Stream.readWith} reports to. */
export interface StreamReadListener {
  /** The bytes read, or `undefined` at end of stream. */
  onStreamChunk(chunk: Buffer | undefined): void
  /** The read failed (`ReadTimedout`, `ReadError`, `InternalError`). */
  onStreamError(error: PingoraError): void
}

/**
 * A connected byte stream (TCP or TLS) with a bounded read queue, pull-style reads with
 * timeouts, backpressured writes and typed errors. Port of `pingora-core/src/protocols/l4/stream.rs`.
 *
 * A keep-alive connection's `Stream` outlives the HTTP sessions that use it: bytes read past the
 * end of one request (pipelining) stay queued (or are pushed back with {@link Stream.unread}) for
 * the next session.
 *
 * ```text
 *  socket 'data' ──► [queue: chunk | chunk | ...] ──► tryRead()/read() ──► session
 *                     > STREAM_READ_HIGH_WATER bytes → socket.pause()
 * ```
 */
export class Stream {
  /** The underlying socket. */
  readonly socket: net.Socket
  /** A process-unique id for this connection. */
  readonly id: number
  /** Connection facts: addresses, establishment time, TLS. */
  readonly digest: Digest
  /** The source stamped on errors this stream raises: `'downstream'` for accepted sockets. */
  errorSource: ErrorSource
  /**
   * @internal Called after bytes arrive (`'unexpected-data'`) or the connection ends, fails or
   * closes (`'closed'`) while a connection pool holds this stream idle. The pool sets it
   * instead of adding (and removing) socket listeners for every idle period.
   */
  idleWatcher: ((problem: 'closed' | 'unexpected-data') => void) | undefined

  #queue: Buffer[]
  #queued: number
  #paused: boolean
  #eof: boolean
  #closing: boolean
  #error: Error | undefined
  #readResolve: ((chunk: Buffer | undefined) => void) | undefined
  #readReject: ((error: PingoraError) => void) | undefined
  #readTimer: FastTimer | undefined
  #readTimerMs: number
  #readTimeoutContext: string
  #readTimerActive: boolean
  #drainResolve: (() => void) | undefined
  #drainReject: ((error: PingoraError) => void) | undefined
  #writeTimer: FastTimer | undefined
  #writeTimerMs: number
  #writeTimerActive: boolean
  #eofWaiters: Array<() => void> | undefined
  #lingerTimer: FastTimer | undefined
  #uncorkScheduled: boolean
  #deferred: string | undefined
  #flushScheduled: boolean
  #idleSignal: AbortSignal | undefined
  #idleSet: Set<Stream> | undefined
  #idle: boolean
  #idleCallback: ((ready: boolean) => void) | undefined
  #readListener: StreamReadListener | undefined

  /**
   * Wraps a connected socket. The stream takes over the socket's `data`, `end`, `error`,
   * `close` and `drain` events; do not read from the socket directly afterwards.
   * @param socket - a connected `net.Socket` or `tls.TLSSocket`
   * @param errorSource - the source of errors raised by this stream @defaultValue `'downstream'`
   */
  constructor(socket: net.Socket, errorSource: ErrorSource = 'downstream') {
    this.socket = socket
    this.id = nextStreamId++
    this.digest = new Digest(socket)
    this.errorSource = errorSource
    this.idleWatcher = undefined
    this.#queue = []
    this.#queued = 0
    this.#paused = false
    this.#eof = socket.readableEnded || socket.destroyed
    this.#closing = false
    this.#error = undefined
    this.#readResolve = undefined
    this.#readReject = undefined
    this.#readTimer = undefined
    this.#readTimerMs = 0
    this.#readTimeoutContext = ''
    this.#readTimerActive = false
    this.#drainResolve = undefined
    this.#drainReject = undefined
    this.#writeTimer = undefined
    this.#writeTimerMs = 0
    this.#writeTimerActive = false
    this.#eofWaiters = undefined
    this.#lingerTimer = undefined
    this.#uncorkScheduled = false
    this.#deferred = undefined
    this.#flushScheduled = false
    this.#idleSignal = undefined
    this.#idleSet = undefined
    this.#idle = false
    this.#idleCallback = undefined
    this.#readListener = undefined
    // HTTP needs to answer a client that half-closed after sending its request.
    socket.allowHalfOpen = true
    if (typeof socket.setNoDelay === 'function' && !socket.destroyed) socket.setNoDelay(true)
    socket.on('data', this.#onData)
    socket.on('end', this.#onEnd)
    socket.on('error', this.#onError)
    socket.on('close', this.#onClose)
    socket.on('drain', this.#onDrain)
  }

  /**
   * @internal Takes bytes read by the socket's `onread` callback (see {@link SocketReadSink}),
   * as the `data` event would.
   */
  readonly receive = (chunk: Buffer): void => {
    this.#onData(chunk)
  }

  /** Whether the stream is closed or closing (no more writes possible). */
  get closed(): boolean {
    return this.#closing || this.socket.destroyed || !this.socket.writable
  }

  /** Whether the peer has finished sending (FIN, error or close) and no queued bytes remain. */
  get readEnded(): boolean {
    return this.#eof && this.#queued === 0
  }

  /** Whether the peer has finished sending (queued bytes may remain). */
  get peerEnded(): boolean {
    return this.#eof
  }

  /** How many bytes have been read from the socket but not yet consumed. */
  get bufferedLength(): number {
    return this.#queued
  }

  /** Takes the next queued chunk without waiting; `undefined` when nothing is queued. */
  tryRead(): Buffer | undefined {
    if (this.#queued === 0) return undefined
    const chunk = this.#queue.shift() as Buffer
    this.#queued -= chunk.length
    if (this.#paused && this.#queued < STREAM_READ_HIGH_WATER) this.#resume()
    return chunk
  }

  /**
   * Reads the next chunk of bytes: queued bytes first, else waits for the socket.
   * Resolves `undefined` at end of stream (the peer closed its sending side).
   * @param timeoutMs - how long to wait for bytes; `undefined` or `0` waits forever
   * @param timeoutContext - context for the `ReadTimedout` error
   * @throws PingoraError `ReadTimedout` on timeout, `ReadError` on a socket error
   */
  read(timeoutMs?: number, timeoutContext = 'reading'): Promise<Buffer | undefined> {
    const chunk = this.tryRead()
    if (chunk !== undefined) return Promise.resolve(chunk)
    if (this.#error !== undefined) return Promise.reject(this.#readError())
    if (this.#eof) return Promise.resolve(undefined)
    if (this.#readResolve !== undefined) {
      return Promise.reject(
        new PingoraError('InternalError', {
          source: 'internal',
          context: 'concurrent reads on one stream',
        }),
      )
    }
    if (this.#paused) this.#resume()
    const pending = new Promise<Buffer | undefined>(this.#readExecutor)
    if (timeoutMs !== undefined && timeoutMs > 0 && timeoutMs !== Number.POSITIVE_INFINITY) {
      this.#readTimeoutContext = timeoutContext
      this.#armReadTimer(timeoutMs)
    }
    return pending
  }

  /**
   * @internal Like {@link Stream.read}, but reports to `listener` instead of returning a
   * promise, for a caller that settles a promise of its own (one promise and one microtask hop
   * fewer): once bytes arrive `listener.onStreamChunk(chunk)` runs (`undefined` at end of
   * stream), on a timeout or a failure `listener.onStreamError(error)`. Either may run before
   * this returns when the outcome is known. Passing an object (not two callbacks) lets a
   * per-request caller use its own methods without allocating closures.
   * @param timeoutMs - how long to wait for bytes; `undefined` or `0` waits forever
   * @param timeoutContext - context for the `ReadTimedout` error
   * @param listener - receives the bytes or the error
   */
  readWith(
    timeoutMs: number | undefined,
    timeoutContext: string,
    listener: StreamReadListener,
  ): void {
    const chunk = this.tryRead()
    if (chunk !== undefined) {
      listener.onStreamChunk(chunk)
      return
    }
    if (this.#error !== undefined) {
      listener.onStreamError(this.#readError())
      return
    }
    if (this.#eof) {
      listener.onStreamChunk(undefined)
      return
    }
    if (this.#readResolve !== undefined) {
      listener.onStreamError(
        new PingoraError('InternalError', {
          source: 'internal',
          context: 'concurrent reads on one stream',
        }),
      )
      return
    }
    if (this.#paused) this.#resume()
    this.#readListener = listener
    this.#readResolve = this.#listenerResolve
    this.#readReject = this.#listenerReject
    if (timeoutMs !== undefined && timeoutMs > 0 && timeoutMs !== Number.POSITIVE_INFINITY) {
      this.#readTimeoutContext = timeoutContext
      this.#armReadTimer(timeoutMs)
    }
  }

  // The read settlers of readWith (bound once per stream): hand over to the listener.
  #listenerResolve = (chunk: Buffer | undefined): void => {
    const listener = this.#readListener
    this.#readListener = undefined
    listener?.onStreamChunk(chunk)
  }

  #listenerReject = (error: PingoraError): void => {
    const listener = this.#readListener
    this.#readListener = undefined
    listener?.onStreamError(error)
  }

  /**
   * Settles a pending {@link Stream.read} with `undefined` (as at end of stream). A bound
   * function, so it can be passed directly as an event listener.
   */
  readonly cancelRead = (): void => {
    this.#settleRead(undefined)
  }

  /**
   * Corks the socket until the end of the current tick, so that the writes made by the code
   * running now (a response header, then its first body piece) leave in one syscall.
   */
  corkForTick(): void {
    if (this.#uncorkScheduled) return
    this.#uncorkScheduled = true
    this.socket.cork()
    process.nextTick(this.#uncorkTick)
  }

  /** Resolves every pending {@link Stream.waitForEnd} now (the waiter no longer cares). */
  releaseEndWaiters(): void {
    this.#notifyEnd()
  }

  /**
   * Like {@link Stream.read}, for an idle connection waiting for its next message: when `signal`
   * aborts during the wait, the read resolves `undefined` (as at end of stream).
   * @param timeoutMs - how long to wait; `undefined` or `0` waits forever
   * @param signal - cancels the wait when it aborts
   */
  readIdle(
    timeoutMs: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Buffer | undefined> {
    if (signal === undefined || this.#queued !== 0)
      return this.read(timeoutMs, 'waiting for a request')
    if (signal.aborted) return Promise.resolve(undefined)
    if (this.#idleSignal !== signal) this.#joinIdleSet(signal)
    const pending = this.read(timeoutMs, 'waiting for a request')
    if (this.#readResolve !== undefined) this.#idle = true
    return pending
  }

  /**
   * Waits for the first bytes of the next message on an idle connection without a promise
   * (the keep-alive loop's hot path: no promise, no microtask per request). Returns `'ready'`
   * when bytes are queued now and `'ended'` when none can come (the peer ended, the connection
   * failed or `signal` is aborted); otherwise returns `'waiting'` and later calls `onReady`
   * once: `true` when bytes are queued, `false` when the peer ended, the connection failed,
   * `timeoutMs` elapsed or `signal` aborted. `onReady` runs inside the socket's event handler
   * and must not throw.
   * @param timeoutMs - how long to wait; `undefined` or `0` waits forever
   * @param signal - cancels the wait when it aborts
   * @param onReady - called once when the wait ends (only after `'waiting'` was returned)
   * @throws PingoraError `InternalError` when a read is already pending on this stream
   */
  waitIdle(
    timeoutMs: number | undefined,
    signal: AbortSignal | undefined,
    onReady: (ready: boolean) => void,
  ): 'ready' | 'ended' | 'waiting' {
    if (this.#queued !== 0) return 'ready'
    if (this.#error !== undefined || this.#eof || signal?.aborted === true) return 'ended'
    if (this.#readResolve !== undefined) {
      throw new PingoraError('InternalError', {
        source: 'internal',
        context: 'concurrent reads on one stream',
      })
    }
    if (this.#paused) this.#resume()
    this.#idleCallback = onReady
    this.#readResolve = this.#idleResolve
    this.#readReject = this.#idleReject
    if (signal !== undefined) {
      if (this.#idleSignal !== signal) this.#joinIdleSet(signal)
      this.#idle = true
    }
    if (timeoutMs !== undefined && timeoutMs > 0 && timeoutMs !== Number.POSITIVE_INFINITY) {
      this.#readTimeoutContext = 'waiting for a request'
      this.#armReadTimer(timeoutMs)
    }
    return 'waiting'
  }

  // The read settlers of an idle wait (bound once per stream): queue the chunk, then tell.
  #idleResolve = (chunk: Buffer | undefined): void => {
    const onReady = this.#idleCallback
    this.#idleCallback = undefined
    if (chunk !== undefined) {
      this.#queue.push(chunk)
      this.#queued += chunk.length
    }
    onReady?.(chunk !== undefined)
  }

  #idleReject = (): void => {
    const onReady = this.#idleCallback
    this.#idleCallback = undefined
    onReady?.(false)
  }

  /** Joins the set of streams whose idle waits `signal` cancels (once per connection). */
  #joinIdleSet(signal: AbortSignal): void {
    this.#idleSet?.delete(this)
    let streams = idleStreams.get(signal)
    if (streams === undefined) {
      streams = new Set()
      idleStreams.set(signal, streams)
      signal.addEventListener('abort', Stream.#cancelIdleStreams, { once: true })
    }
    streams.add(this)
    this.#idleSignal = signal
    this.#idleSet = streams
  }

  static #cancelIdleStreams = (event: Event): void => {
    const streams = idleStreams.get(event.target as AbortSignal)
    if (streams === undefined) return
    for (const stream of streams) {
      if (!stream.#idle) continue
      // Not ended at once: see SHUTDOWN_IDLE_LINGER_MS. The read timer ends the wait.
      stream.#armReadTimer(SHUTDOWN_IDLE_LINGER_MS)
    }
    streams.clear()
  }

  /**
   * Puts bytes back in front of the read queue (bytes read past the end of a message, e.g. a
   * pipelined request). They are returned by the next read.
   * @param chunk - bytes previously returned by a read
   */
  unread(chunk: Buffer): void {
    if (chunk.length === 0) return
    this.#queue.unshift(chunk)
    this.#queued += chunk.length
  }

  /**
   * Gives the socket to another protocol engine (the HTTP/2 session of `node:http2`): stops
   * listening to it, pauses it, and puts the bytes already read but not consumed back into the
   * socket's own buffer, where the new owner reads them first. The stream must not be used for
   * I/O afterwards; its {@link Stream.digest} stays valid.
   */
  detach(): void {
    const socket = this.socket
    socket.off('data', this.#onData)
    socket.off('end', this.#onEnd)
    socket.off('error', this.#onError)
    socket.off('close', this.#onClose)
    socket.off('drain', this.#onDrain)
    this.#closing = true
    if (this.#readTimer !== undefined) clearFastTimeout(this.#readTimer)
    if (this.#writeTimer !== undefined) clearFastTimeout(this.#writeTimer)
    this.#readTimer = undefined
    this.#writeTimer = undefined
    socket.pause()
    const queue = this.#queue
    if (queue.length > 0) {
      socket.unshift(queue.length === 1 ? (queue[0] as Buffer) : Buffer.concat(queue, this.#queued))
    }
    queue.length = 0
    this.#queued = 0
  }

  /**
   * Resolves when the peer ends or the connection closes, without consuming queued bytes.
   * Used to notice a client that goes away while the response is being produced.
   */
  waitForEnd(): Promise<void> {
    if (this.#eof) return Promise.resolve()
    if (this.#paused && this.#queued < STREAM_READ_HIGH_WATER) this.#resume()
    return new Promise<void>((resolve) => {
      if (this.#eofWaiters === undefined) this.#eofWaiters = []
      this.#eofWaiters.push(resolve)
    })
  }

  /**
   * Writes bytes. Returns `false` when the socket's buffer is full; call {@link Stream.drain}
   * before writing a lot more.
   * @param data - the bytes (a string is written as latin1)
   * @throws PingoraError `WriteError` when the stream is already closed or failed
   */
  write(data: Uint8Array | string): boolean {
    if (this.#error !== undefined) throw this.#writeError(this.#error)
    const socket = this.socket
    if (socket.destroyed || !socket.writable) {
      throw new PingoraError('WriteError', {
        source: this.errorSource,
        context: 'writing to a closed connection',
      })
    }
    const deferred = this.#deferred
    if (deferred !== undefined) {
      this.#deferred = undefined
      if (typeof data === 'string') return socket.write(deferred + data, 'latin1')
      if (data.length <= COALESCE_LIMIT) {
        const out = Buffer.allocUnsafe(deferred.length + data.length)
        out.write(deferred, 0, 'latin1')
        out.set(data, deferred.length)
        return socket.write(out)
      }
      socket.cork()
      socket.write(deferred, 'latin1')
      const ok = socket.write(data)
      socket.uncork()
      return ok
    }
    return typeof data === 'string' ? socket.write(data, 'latin1') : socket.write(data)
  }

  /**
   * Queues latin1 text (a message head) to leave with the next write made in this tick, in the
   * same buffer, or alone at the end of the tick if no write follows. Saves a syscall per
   * response for the usual head-then-body sequence.
   * @param text - the bytes as a latin1 string
   * @throws PingoraError `WriteError` when the stream is already closed or failed
   */
  writeDeferred(text: string): void {
    if (this.#error !== undefined) throw this.#writeError(this.#error)
    if (this.socket.destroyed || !this.socket.writable) {
      throw new PingoraError('WriteError', {
        source: this.errorSource,
        context: 'writing to a closed connection',
      })
    }
    this.#deferred = this.#deferred === undefined ? text : this.#deferred + text
    if (!this.#flushScheduled) {
      this.#flushScheduled = true
      process.nextTick(this.#flushTick)
    }
  }

  #flushDeferred(): void {
    const deferred = this.#deferred
    if (deferred === undefined) return
    this.#deferred = undefined
    const socket = this.socket
    if (!socket.destroyed && socket.writable) socket.write(deferred, 'latin1')
  }

  /**
   * Waits until the socket's write buffer has drained (resolves at once when it has).
   * @param timeoutMs - how long to wait; `undefined` or `0` waits forever
   * @throws PingoraError `WriteTimedout` on timeout, `WriteError` when the connection fails
   */
  drain(timeoutMs?: number): Promise<void> {
    this.#flushDeferred()
    if (this.#error !== undefined) return Promise.reject(this.#writeError(this.#error))
    const socket = this.socket
    if (socket.destroyed) {
      return Promise.reject(
        new PingoraError('WriteError', { source: this.errorSource, context: 'connection closed' }),
      )
    }
    if (!socket.writableNeedDrain) return Promise.resolve()
    if (this.#drainResolve !== undefined) {
      return Promise.reject(
        new PingoraError('InternalError', { source: 'internal', context: 'concurrent drains' }),
      )
    }
    const pending = new Promise<void>(this.#drainExecutor)
    if (timeoutMs !== undefined && timeoutMs > 0 && timeoutMs !== Number.POSITIVE_INFINITY) {
      this.#armWriteTimer(timeoutMs)
    }
    return pending
  }

  /**
   * Writes bytes and waits for the socket buffer to drain if it is full.
   * @param data - the bytes
   * @param timeoutMs - write timeout while waiting for drain
   */
  writeAll(data: Uint8Array | string, timeoutMs?: number): Promise<void> {
    try {
      if (this.write(data)) return Promise.resolve()
    } catch (error) {
      return Promise.reject(error)
    }
    return this.drain(timeoutMs)
  }

  /** Buffers subsequent writes in memory until {@link Stream.uncork} (one syscall for many writes). */
  cork(): void {
    this.socket.cork()
  }

  /** Flushes writes buffered since {@link Stream.cork}. */
  uncork(): void {
    this.socket.uncork()
  }

  /**
   * Closes gracefully: flushes pending writes, sends FIN, then keeps reading (and discarding)
   * until the peer closes or {@link STREAM_LINGER_MS} elapses, so that the peer does not get a
   * reset before it has read our last response.
   */
  close(): void {
    if (this.#closing) return
    this.#closing = true
    const socket = this.socket
    if (socket.destroyed) return
    this.#flushDeferred()
    this.#queue.length = 0
    this.#queued = 0
    if (this.#eof) {
      // The peer already finished: nothing to linger for.
      socket.end()
      socket.destroySoon()
      return
    }
    socket.end()
    if (this.#paused) this.#resume()
    this.#lingerTimer = setFastTimeout(this.#onLinger, STREAM_LINGER_MS)
  }

  /**
   * Half-closes: flushes pending writes and sends FIN, but keeps reading, so the peer can still
   * answer (a tunnel whose client finished sending, RFC 9112 §9.6). {@link Stream.close} or the
   * peer's own FIN ends the connection afterwards.
   */
  shutdownWrite(): void {
    const socket = this.socket
    if (this.#closing || socket.destroyed || !socket.writable) return
    this.#flushDeferred()
    socket.end()
  }

  /**
   * Closes at once, discarding unsent bytes.
   * @param error - the reason, passed to `socket.destroy`
   */
  destroy(error?: Error): void {
    this.#closing = true
    this.socket.destroy(error)
  }

  #resume(): void {
    this.#paused = false
    this.socket.resume()
  }

  #armReadTimer(ms: number): void {
    this.#readTimerActive = true
    if (this.#readTimer !== undefined && this.#readTimerMs === ms) {
      this.#readTimer.refresh()
      return
    }
    if (this.#readTimer !== undefined) clearFastTimeout(this.#readTimer)
    this.#readTimerMs = ms
    this.#readTimer = setFastTimeout(this.#onReadTimeout, ms)
  }

  #armWriteTimer(ms: number): void {
    this.#writeTimerActive = true
    if (this.#writeTimer !== undefined && this.#writeTimerMs === ms) {
      this.#writeTimer.refresh()
      return
    }
    if (this.#writeTimer !== undefined) clearFastTimeout(this.#writeTimer)
    this.#writeTimerMs = ms
    this.#writeTimer = setFastTimeout(this.#onWriteTimeout, ms)
  }

  #readError(): PingoraError {
    return new PingoraError('ReadError', {
      source: this.errorSource,
      context: 'reading from the connection',
      cause: this.#error,
    })
  }

  #writeError(cause: Error): PingoraError {
    return new PingoraError('WriteError', {
      source: this.errorSource,
      context: 'writing to the connection',
      cause,
    })
  }

  #settleRead(chunk: Buffer | undefined): void {
    const resolve = this.#readResolve
    if (resolve === undefined) return
    this.#readResolve = undefined
    this.#readReject = undefined
    this.#readTimerActive = false
    this.#idle = false
    resolve(chunk)
  }

  #failRead(error: PingoraError): void {
    const reject = this.#readReject
    if (reject === undefined) return
    this.#readResolve = undefined
    this.#readReject = undefined
    this.#readTimerActive = false
    this.#idle = false
    reject(error)
  }

  #failDrain(error: PingoraError): void {
    const reject = this.#drainReject
    if (reject === undefined) return
    this.#drainResolve = undefined
    this.#drainReject = undefined
    this.#writeTimerActive = false
    reject(error)
  }

  #notifyEnd(): void {
    const waiters = this.#eofWaiters
    if (waiters === undefined) return
    this.#eofWaiters = undefined
    for (let i = 0; i < waiters.length; i++) (waiters[i] as () => void)()
  }

  // Promise executors bound once per stream: no closure is allocated per read or drain.
  #readExecutor = (
    resolve: (chunk: Buffer | undefined) => void,
    reject: (error: PingoraError) => void,
  ): void => {
    this.#readResolve = resolve
    this.#readReject = reject
  }

  #drainExecutor = (resolve: () => void, reject: (error: PingoraError) => void): void => {
    this.#drainResolve = resolve
    this.#drainReject = reject
  }

  #onData = (chunk: Buffer): void => {
    if (this.#closing) {
      this.idleWatcher?.('unexpected-data')
      return
    }
    if (this.#readResolve !== undefined && this.#queued === 0) {
      this.#settleRead(chunk)
      return
    }
    this.#queue.push(chunk)
    this.#queued += chunk.length
    if (this.#queued >= STREAM_READ_HIGH_WATER && !this.#paused) {
      this.#paused = true
      this.socket.pause()
    }
    this.idleWatcher?.('unexpected-data')
  }

  #onEnd = (): void => {
    this.#eof = true
    this.#settleRead(undefined)
    this.#notifyEnd()
    this.idleWatcher?.('closed')
  }

  #onError = (error: Error): void => {
    if (this.#error === undefined) this.#error = error
    this.#failRead(this.#readError())
    this.#failDrain(this.#writeError(error))
    this.idleWatcher?.('closed')
  }

  #onClose = (): void => {
    this.#eof = true
    this.#settleRead(undefined)
    this.#notifyEnd()
    this.#failDrain(
      new PingoraError('ConnectionClosed', {
        source: this.errorSource,
        context: 'connection closed while writing',
      }),
    )
    if (this.#readTimer !== undefined) clearFastTimeout(this.#readTimer)
    if (this.#writeTimer !== undefined) clearFastTimeout(this.#writeTimer)
    if (this.#lingerTimer !== undefined) clearFastTimeout(this.#lingerTimer)
    this.#idleSet?.delete(this)
    this.#idleSet = undefined
    this.#readTimer = undefined
    this.#writeTimer = undefined
    this.#lingerTimer = undefined
    this.idleWatcher?.('closed')
  }

  #onDrain = (): void => {
    const resolve = this.#drainResolve
    if (resolve === undefined) return
    this.#drainResolve = undefined
    this.#drainReject = undefined
    this.#writeTimerActive = false
    resolve()
  }

  #onReadTimeout = (): void => {
    if (this.#readReject === undefined || !this.#readTimerActive) return
    // The shutdown linger of an idle wait ran out: an ordinary end, as a cancellation is.
    if (this.#idle && this.#idleSignal?.aborted === true) {
      this.#settleRead(undefined)
      return
    }
    this.#failRead(
      new PingoraError('ReadTimedout', {
        source: this.errorSource,
        context: `${this.#readTimeoutContext}, timeout: ${this.#readTimerMs}ms`,
      }),
    )
  }

  #onWriteTimeout = (): void => {
    if (this.#drainReject === undefined || !this.#writeTimerActive) return
    this.#failDrain(
      new PingoraError('WriteTimedout', {
        source: this.errorSource,
        context: `writing, timeout: ${this.#writeTimerMs}ms`,
      }),
    )
  }

  #flushTick = (): void => {
    this.#flushScheduled = false
    this.#flushDeferred()
  }

  #uncorkTick = (): void => {
    this.#uncorkScheduled = false
    this.socket.uncork()
  }

  #onLinger = (): void => {
    this.socket.destroy()
  }
}
