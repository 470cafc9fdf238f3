import type { Duplex } from 'node:stream'
import type { IdleProblem } from './connection-pool.ts'

/**
 * Watches an idle `node:net`/`node:tls` socket (any `Duplex`) for the pool: reports `'closed'`
 * when the remote ends or resets it or it is destroyed, and `'unexpected-data'` when bytes
 * arrive while nobody asked for any. Returns a function that stops watching. Port of the
 * idle read in `pingora-pool/src/connection.rs` (`idle_poll`).
 *
 * It listens for `'readable'` rather than `'data'`, so it never consumes bytes and, once
 * stopped, leaves the socket's flowing mode as it found it (Node restores it when the last
 * `'readable'` listener goes). While watching, its `'error'` listener also keeps a reset on an
 * idle socket from becoming an uncaught exception.
 *
 * Use it as the pool's `watch` option: `new ConnectionPool<Socket>({ watch: watchSocket })`.
 * @param socket - the idle socket
 * @param onProblem - called once when the socket can no longer be reused
 * @returns a function that removes every listener this added
 */
export function watchSocket(socket: Duplex, onProblem: (problem: IdleProblem) => void): () => void {
  if (socket.destroyed || socket.readableEnded || !socket.readable) {
    onProblem('closed')
    return noop
  }
  if (socket.readableLength > 0) {
    onProblem('unexpected-data')
    return noop
  }
  let active = true
  const stop = (): void => {
    if (!active) return
    active = false
    socket.off('readable', onReadable)
    socket.off('close', onClose)
    socket.off('error', onClose)
  }
  const onReadable = (): void => {
    // 'readable' fires for new bytes or for the end of the stream; either way the idle
    // connection is finished. Nothing is read, so the bytes stay in the buffer.
    const problem: IdleProblem = socket.readableLength > 0 ? 'unexpected-data' : 'closed'
    stop()
    onProblem(problem)
  }
  const onClose = (): void => {
    stop()
    onProblem('closed')
  }
  socket.on('readable', onReadable)
  socket.on('close', onClose)
  socket.on('error', onClose)
  return stop
}

function noop(): void {}
