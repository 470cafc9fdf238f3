import type { Stream } from './stream.ts'

/** The read buffer a socket connected with {@link SocketReadSink} reads into. */
const SINK_BUFFER_BYTES = 64 * 1024
/** Reads shorter than this are copied out (into pooled memory) and the read buffer is reused. */
const SINK_COPY_BELOW = 16 * 1024

/**
 * @internal Reads of a client socket connected with net's `onread` option, delivered to its
 * {@link Stream} without Node's `Readable` machinery (no `push`, `data` event or
 * `maybeReadMore` tick per read). A short read is copied out and the read buffer reused; a long
 * one is handed over as is (a fresh buffer is taken for the next read), so every chunk the
 * stream hands out owns its memory, as with `data` events (see `release-chunk.ts`).
 *
 * Pass {@link SocketReadSink.onread} as `net.connect`'s `onread` option, then
 * {@link SocketReadSink.attach} the stream once it wraps the socket; bytes read before that are
 * kept until then. Plain TCP only: a TLS socket reads from the raw socket's handle itself.
 */
export class SocketReadSink {
  #stream: Stream | undefined = undefined
  #early: Buffer[] | undefined = undefined
  #buffer: Buffer | undefined = undefined

  /** The `onread` option for `net.connect`. */
  readonly onread: { buffer: () => Buffer; callback: (nread: number, buf: Uint8Array) => boolean }

  constructor() {
    this.onread = { buffer: this.#nextBuffer, callback: this.#onRead }
  }

  /**
   * Delivers reads to `stream` from now on, the early ones first.
   * @param stream - the stream wrapping the socket
   */
  attach(stream: Stream): void {
    this.#stream = stream
    const early = this.#early
    if (early === undefined) return
    this.#early = undefined
    for (let i = 0; i < early.length; i++) stream.receive(early[i] as Buffer)
  }

  #nextBuffer = (): Buffer => {
    let buffer = this.#buffer
    if (buffer === undefined) {
      buffer = Buffer.allocUnsafeSlow(SINK_BUFFER_BYTES)
      this.#buffer = buffer
    }
    return buffer
  }

  // Returns `true`: backpressure is the stream's own (it pauses the socket).
  #onRead = (nread: number, buf: Uint8Array): boolean => {
    let chunk: Buffer
    if (nread < SINK_COPY_BELOW) {
      chunk = Buffer.allocUnsafe(nread)
      chunk.set(buf.subarray(0, nread))
    } else {
      const full = buf as Buffer
      chunk = nread === full.length ? full : full.subarray(0, nread)
      // Handed over: the next read goes into a fresh buffer.
      this.#buffer = undefined
    }
    const stream = this.#stream
    if (stream !== undefined) stream.receive(chunk)
    else if (this.#early === undefined) this.#early = [chunk]
    else this.#early.push(chunk)
    return true
  }
}
