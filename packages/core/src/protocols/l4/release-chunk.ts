import type { Stream } from './stream.ts'

/** Chunks smaller than this are left to the garbage collector: freeing them early saves little. */
export const RELEASE_MIN_BYTES = 16 * 1024

type Transfer = (this: ArrayBufferLike, newByteLength?: number) => ArrayBuffer

// ES2024 `ArrayBuffer.prototype.transfer` (Node >= 22; absent on Node 20, where releasing is a
// no-op). Looked up once: the hot path only tests for `undefined`.
const transfer = (ArrayBuffer.prototype as { transfer?: Transfer }).transfer

/**
 * Frees the memory behind `chunk` now instead of at V8's next garbage collection, once `stream`
 * has handed every write to the kernel. See docs/decisions/0009-read-buffer-memory.md.
 *
 * Every socket read gives a fresh ArrayBuffer (64 KiB on a busy connection). A relayed body
 * turns each one into garbage as soon as it is written, and on Node 24 V8 collects that
 * garbage only when it has grown by about 64 MiB. Detaching the buffer (`transfer(0)`) frees it
 * at once, so a streamed body keeps one or two read buffers alive instead of a thousand.
 *
 * The caller promises that nothing reads `chunk`, or another view of its memory, afterwards:
 * a body piece read from one side and written unchanged to the other. The memory is freed only
 * when, besides that promise, `chunk` covers its whole ArrayBuffer (no bytes of a neighbour, such
 * as a pipelined request pushed back with {@link Stream.unread}), is at least
 * {@link RELEASE_MIN_BYTES} long, and `stream.socket` has no write queued or in flight (one that
 * has not completed may still point into the chunk).
 *
 * This relies on every chunk a {@link Stream} hands out owning its memory, as Node's socket
 * reads do. A read path that lends views of a reused or pooled buffer (net's `onread`) must not
 * hand out a view that covers that whole buffer, or freeing it would free the stream's buffer.
 * @param chunk - bytes already written to `stream`
 * @param stream - the stream `chunk` was written to
 * @returns whether the memory was freed (`chunk` is then empty)
 * @internal
 */
export function releaseWrittenChunk(chunk: Uint8Array, stream: Stream): boolean {
  if (transfer === undefined || chunk.byteLength < RELEASE_MIN_BYTES) return false
  const buffer = chunk.buffer
  if (chunk.byteOffset !== 0 || buffer.byteLength !== chunk.byteLength) return false
  if (stream.socket.writableLength !== 0) return false
  try {
    transfer.call(buffer, 0)
  } catch {
    // Not detachable (a SharedArrayBuffer, a buffer with a detach key): the GC frees it later.
    return false
  }
  return true
}
