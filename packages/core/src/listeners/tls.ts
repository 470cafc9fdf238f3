import type net from 'node:net'
import tls from 'node:tls'
import { PingoraError } from '@pingora-ts/error'
import {
  type ClientHelloInfo,
  type TlsDigest as HandshakeDigest,
  readClientHello,
  TLS_HANDSHAKE_TIMEOUT_MS,
  TlsSettings,
  tlsErrorToPingora,
} from '@pingora-ts/tls'
import { Stream } from '../protocols/l4/stream.ts'
import type { ListenerConfig, PostAcceptHandshake } from './listeners.ts'
import { formatHostPort, type ServerAddress } from './server-address.ts'

/**
 * How much longer than the TLS handshake timeout the service-level limit of a TLS endpoint is.
 * The TLS handshake enforces its own limit (so a timeout is typed `TLSHandshakeTimedout`); the
 * service's limit only backs it up.
 */
const SERVICE_LIMIT_MARGIN_MS = 1_000

/** Largest delay `setTimeout` honours (larger values fire at once). */
const MAX_TIMER_MS = 2_147_483_647 - SERVICE_LIMIT_MARGIN_MS

/**
 * `@pingora-ts/tls`'s settings class, re-exported so that `ListeningService.addTlsWithSettings`
 * callers need no second import (Pingora's `pingora_core::listeners::tls::TlsSettings`).
 */
export { TlsSettings }

/** Options of {@link tlsHandshake} and {@link tlsListenerConfig}. */
export interface TlsListenerOptions {
  /**
   * How long a client may take from accept to a finished TLS handshake (ClientHello included).
   * @defaultValue the settings' `handshakeTimeoutMs` ({@link TLS_HANDSHAKE_TIMEOUT_MS}, 60 s)
   */
  readonly handshakeTimeoutMs?: number
}

/** The bits of a server `TLSWrap` handle used to check client certificates. */
type VerifyHandle = { verifyError?: () => (Error & { code?: string }) | null | undefined }

/** The bit of a server `TLSWrap` handle that holds the OCSP response to staple. */
type OcspHandle = { setOCSPResponse?: (response: Buffer) => void }

/**
 * Builds the post-accept handshake of a TLS endpoint: reads the ClientHello, picks the
 * certificate for its SNI name through {@link TlsSettings.contextFor} (so a reload or a file
 * change applies to the next handshake), runs the server handshake over the accepted socket,
 * checks the client certificate when the settings ask for one, and stores what was negotiated
 * in the stream's `digest.tls`. Port of `pingora-core/src/listeners/tls/`.
 *
 * Failures reject with a `PingoraError` of source `'downstream'`: `TLSHandshakeTimedout` after
 * the timeout, `InvalidCert` for a missing or untrusted client certificate,
 * `TLSHandshakeFailure` for anything else (bytes that are not a ClientHello, protocol errors,
 * a client that leaves). The socket is destroyed.
 * @param settings - the endpoint's certificates and TLS options
 * @param options - the handshake timeout
 * @throws RangeError when `handshakeTimeoutMs` is not a positive integer
 * @throws PingoraError `TLSConfigError` when the certificates cannot be loaded
 */
export function tlsHandshake(
  settings: TlsSettings,
  options: TlsListenerOptions = {},
): PostAcceptHandshake {
  const timeoutMs = handshakeTimeoutOf(settings, options)
  return (socket, signal) => acceptTls(socket, signal, settings, timeoutMs)
}

/**
 * Builds the {@link ListenerConfig} of a TLS endpoint (what `ListeningService.addTls` adds).
 * @param address - where to listen
 * @param settings - the endpoint's certificates and TLS options
 * @param options - the handshake timeout
 * @throws RangeError when `handshakeTimeoutMs` is not a positive integer
 * @throws PingoraError `TLSConfigError` when the certificates cannot be loaded
 */
export function tlsListenerConfig(
  address: ServerAddress,
  settings: TlsSettings,
  options: TlsListenerOptions = {},
): ListenerConfig {
  const timeoutMs = handshakeTimeoutOf(settings, options)
  return {
    address,
    handshake: (socket, signal) => acceptTls(socket, signal, settings, timeoutMs),
    handshakeTimeoutMs: timeoutMs + SERVICE_LIMIT_MARGIN_MS,
  }
}

function handshakeTimeoutOf(settings: TlsSettings, options: TlsListenerOptions): number {
  // Also loads the certificates, so a bad file fails here rather than on the first handshake.
  const fromSettings = settings.toServerOptions().handshakeTimeout
  const timeoutMs = options.handshakeTimeoutMs ?? fromSettings ?? TLS_HANDSHAKE_TIMEOUT_MS
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMER_MS) {
    throw new RangeError(
      `handshakeTimeoutMs must be an integer from 1 to ${MAX_TIMER_MS}, got ${String(timeoutMs)}`,
    )
  }
  return timeoutMs
}

function acceptTls(
  socket: net.Socket,
  signal: AbortSignal,
  settings: TlsSettings,
  timeoutMs: number,
): Promise<Stream> {
  return new Promise<Stream>((resolve, reject) => {
    const peer = peerOf(socket)
    const what = `TLS handshake with ${peer}`
    let secure: tls.TLSSocket | undefined
    let requestCert = false
    let rejectUnauthorized = false
    let hello: ClientHelloInfo | undefined
    let done = false

    const cleanup = (): void => {
      done = true
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      socket.off('close', onClose)
      if (secure !== undefined) {
        secure.off('close', onClose)
        secure.off('error', onError)
        secure.off('secure', onSecure)
      }
    }
    const fail = (error: PingoraError): void => {
      if (done) return
      cleanup()
      // Keep late socket errors from becoming uncaught exceptions.
      if (secure !== undefined) {
        secure.on('error', noop)
        secure.destroy()
      }
      socket.destroy()
      reject(error)
    }
    const failure = (context: string, cause?: unknown): PingoraError =>
      new PingoraError('TLSHandshakeFailure', { source: 'downstream', context, cause })

    const onTimeout = (): void => {
      fail(
        new PingoraError('TLSHandshakeTimedout', {
          source: 'downstream',
          context: `${what}, timeout ${timeoutMs}ms`,
        }),
      )
    }
    const onAbort = (): void => {
      fail(PingoraError.from(signal.reason, 'TLSHandshakeFailure', what, 'downstream'))
    }
    const onClose = (): void => {
      fail(failure(`connection closed during the ${what}`))
    }
    const onError = (error: Error): void => {
      fail(tlsErrorToPingora(error, 'downstream', what))
    }
    const onSecure = (): void => {
      const tlsSocket = secure as tls.TLSSocket
      const rejected = requestCert ? clientCertificateError(tlsSocket) : undefined
      if (rejected !== undefined && rejectUnauthorized) {
        fail(tlsErrorToPingora(rejected, 'downstream', what))
        return
      }
      let digest: HandshakeDigest | Promise<HandshakeDigest>
      try {
        digest = settings.handshakeComplete(tlsSocket)
      } catch (error) {
        fail(failure(`handshake-complete callback of the ${what}`, error))
        return
      }
      if (digest instanceof Promise) {
        digest.then(finish, (error: unknown) => {
          fail(failure(`handshake-complete callback of the ${what}`, error))
        })
      } else {
        finish(digest)
      }
    }
    const finish = (digest: HandshakeDigest): void => {
      if (done) return
      cleanup()
      const tlsSocket = secure as tls.TLSSocket
      const stream = new Stream(tlsSocket)
      stream.digest.tls = {
        version: digest.version,
        cipher: digest.cipher,
        sni: digest.servername ?? hello?.servername,
        alpn: digest.alpn,
        extension: digest.extension,
        peerCertificate: digest.peerCertificate,
        sessionReused: digest.sessionReused,
      }
      resolve(stream)
    }
    const wrap = (context: tls.SecureContext): void => {
      if (done) return
      const options = settings.toServerOptions()
      requestCert = options.requestCert === true
      rejectUnauthorized = options.rejectUnauthorized === true
      let tlsSocket: tls.TLSSocket
      try {
        // The certificate is chosen from the ClientHello already read, so no SNICallback: one
        // context per connection serves the right certificate even when key types are mixed.
        tlsSocket = new tls.TLSSocket(socket, {
          isServer: true,
          secureContext: context,
          ALPNProtocols: options.ALPNProtocols,
          requestCert,
          rejectUnauthorized,
        })
      } catch (error) {
        fail(failure(what, error))
        return
      }
      const staple = settings.ocspResponseFor(context)
      if (staple !== undefined) setOcspResponse(tlsSocket, staple)
      // A bare server TLSSocket neither checks nor rejects client certificates (tls.Server
      // does it in its own 'secure' handler), so onSecure does.
      secure = tlsSocket
      tlsSocket.on('error', onError)
      tlsSocket.once('close', onClose)
      tlsSocket.once('secure', onSecure)
    }
    const start = (info: ClientHelloInfo | undefined): void => {
      if (done) return
      if (info === undefined) {
        fail(
          failure(
            socket.readableEnded
              ? `connection closed before the ${what} started`
              : `${what}: the client did not send a TLS ClientHello`,
          ),
        )
        return
      }
      hello = info
      let context: tls.SecureContext | Promise<tls.SecureContext>
      try {
        context = settings.contextFor(info.servername, info.ticket)
      } catch (error) {
        fail(failure(`certificate selection for ${info.servername ?? 'no SNI'}`, error))
        return
      }
      if (context instanceof Promise) {
        context.then(wrap, (error: unknown) => {
          fail(failure(`certificate selection for ${info.servername ?? 'no SNI'}`, error))
        })
      } else {
        wrap(context)
      }
    }

    const timer = setTimeout(onTimeout, timeoutMs)
    if (signal.aborted) {
      onAbort()
      return
    }
    signal.addEventListener('abort', onAbort, { once: true })
    socket.once('close', onClose)
    readClientHello(socket).then(start, onError)
  })
}

/**
 * Checks the client certificate of a finished server handshake, the way `tls.Server` does for
 * its own sockets, records the result in `authorized` / `authorizationError`, and returns the
 * verification error, if any.
 */
function clientCertificateError(socket: tls.TLSSocket): Error | undefined {
  const error = verifyErrorOf(socket)
  if (error === undefined) {
    socket.authorized = true
  } else {
    // node:tls stores the OpenSSL code (a string) here, whatever @types/node says.
    const code: unknown = (error as Error & { code?: string }).code ?? error.message
    socket.authorizationError = code as Error
  }
  return error
}

function verifyErrorOf(socket: tls.TLSSocket): Error | undefined {
  // node:tls keeps the verification result on the native handle (`verifyError()`), which is
  // what tls.Server reads; no public API exposes it for a socket made with `new TLSSocket`.
  const handle = (socket as unknown as { _handle?: VerifyHandle | null })._handle
  if (handle === undefined || handle === null || typeof handle.verifyError !== 'function') {
    return Object.assign(new Error('client certificate could not be verified'), {
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    })
  }
  return handle.verifyError() ?? undefined
}

/**
 * Hands the OCSP response to staple to the socket's native handle before the ClientHello is
 * processed; OpenSSL sends it only to clients that ask (`status_request`). tls.Server does the
 * same from its 'OCSPRequest' event, which a bare TLSSocket has no server to emit (see
 * docs/decisions/0024-ocsp-stapling-on-bare-tls-sockets.md).
 */
function setOcspResponse(socket: tls.TLSSocket, response: Buffer): void {
  const handle = (socket as unknown as { _handle?: OcspHandle | null })._handle
  handle?.setOCSPResponse?.(response)
}

function peerOf(socket: net.Socket): string {
  const address = socket.remoteAddress
  return address === undefined ? 'a client' : formatHostPort(address, socket.remotePort ?? 0)
}

function noop(): void {}
