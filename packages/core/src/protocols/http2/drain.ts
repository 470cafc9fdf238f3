import type { Duplex } from 'node:stream'

/**
 * Waits for an HTTP/2 stream to drain after a write that did not flush: resolves on `drain`,
 * rejects with `onClose()` if the stream closes first, and with `onTimeout()` after `timeoutMs`
 * (no timer when `timeoutMs` is `undefined` or 0). Shared by the client and server sessions.
 * @param stream - the stream written to
 * @param timeoutMs - the write timeout
 * @param onClose - the error of a stream closed while waiting
 * @param onTimeout - the error of a timeout (the caller may reset the stream here)
 * @internal
 */
export function waitForH2Drain(
  stream: Duplex,
  timeoutMs: number | undefined,
  onClose: () => Error,
  onTimeout: () => Error,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined
    const cleanup = (): void => {
      if (timer !== undefined) clearTimeout(timer)
      stream.off('drain', onDrain)
      stream.off('close', onClosed)
    }
    const onDrain = (): void => {
      cleanup()
      resolve()
    }
    const onClosed = (): void => {
      cleanup()
      reject(onClose())
    }
    stream.on('drain', onDrain)
    stream.on('close', onClosed)
    if (timeoutMs !== undefined && timeoutMs > 0) {
      timer = setTimeout(() => {
        cleanup()
        reject(onTimeout())
      }, timeoutMs)
    }
  })
}
