import net from 'node:net'
import tls from 'node:tls'
import { PingoraError } from '@pingora-ts/error'
import { type FastTimer, setFastTimeout } from '@pingora-ts/timeout'
import {
  type AlpnProtocols,
  attachKeylog,
  type ClientTlsConnectorOptions,
  type ClientTlsPeer,
  clientTlsOptions,
  tlsErrorToPingora,
} from '@pingora-ts/tls'
import type { Peer } from '../upstreams/peer.ts'
import { parkErrors } from './l4.ts'

/**
 * Builds the `tls.connect` options for a peer through `@pingora-ts/tls`'s `clientTlsOptions`:
 * SNI, verification as the peer's options say (the deprecated explicit `sni: ''` turns it
 * off, as in Pingora and nginx), hostname check against the SNI or `alternativeCn`, CA, client
 * certificate, ALPN and groups.
 * @internal
 */
export function tlsConnectOptions(
  peer: Peer,
  connector: ClientTlsConnectorOptions,
  alpnOverride: AlpnProtocols | undefined,
): tls.ConnectionOptions {
  const options = peer.options
  // The deprecated `sni: ''` leaves verification unset, which `clientTlsOptions` reads as off.
  const legacyOff = peer.sni === '' && peer.emptySniSkipsVerification !== false
  const tlsPeer: Mutable<ClientTlsPeer> = {
    sni: peer.sni,
    verifyCert: legacyOff ? undefined : options.verifyCert,
    verifyHostname: legacyOff ? undefined : options.verifyHostname,
    alpn: alpnOverride ?? options.alpn,
  }
  if (options.alternativeCn !== undefined) tlsPeer.alternativeCn = options.alternativeCn
  if (options.ca !== undefined) tlsPeer.ca = options.ca
  if (peer.clientCertKey !== undefined) tlsPeer.certKey = peer.clientCertKey
  if (options.curves !== undefined) tlsPeer.groups = options.curves.split(':')
  const out = clientTlsOptions(tlsPeer, connector)
  // RFC 6066 §3: SNI carries host names only, never IP literals (Node warns about them).
  if (out.servername !== undefined && net.isIP(out.servername) !== 0) out.servername = undefined
  return out
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/**
 * Runs the client TLS handshake over a connected socket, within `timeoutMs` (the peer's
 * `connectionTimeoutMs` or the connector's default).
 * @throws PingoraError (source `'upstream'`) `InvalidCert`, `TLSHandshakeFailure` or
 *   `TLSHandshakeTimedout`
 * @internal
 */
export function handshake(
  socket: net.Socket,
  peer: Peer,
  connector: ClientTlsConnectorOptions,
  alpnOverride: AlpnProtocols | undefined,
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined = peer.options.connectionTimeoutMs,
): Promise<tls.TLSSocket> {
  return new Promise<tls.TLSSocket>((resolve, reject) => {
    let secure: tls.TLSSocket
    try {
      const options = tlsConnectOptions(peer, connector, alpnOverride)
      options.socket = socket
      secure = tls.connect(options)
    } catch (error) {
      socket.destroy()
      reject(
        PingoraError.from(
          error,
          'InternalError',
          `TLS settings for ${peer.toString()}`,
          'internal',
        ),
      )
      return
    }
    if (connector.debugSslKeylog === true) attachKeylog(secure)
    let timer: FastTimer | undefined
    const cleanup = (): void => {
      if (timer !== undefined) timer.cancel()
      secure.off('secureConnect', onSecure)
      secure.off('error', onError)
      secure.off('close', onClose)
      signal?.removeEventListener('abort', onAbort)
    }
    const fail = (error: PingoraError): void => {
      cleanup()
      secure.destroy()
      reject(error)
    }
    const onSecure = (): void => {
      cleanup()
      secure.on('error', parkErrors)
      resolve(secure)
    }
    const onError = (error: NodeJS.ErrnoException): void => {
      fail(tlsFailure(error, peer))
    }
    const onClose = (): void => {
      fail(
        new PingoraError('TLSHandshakeFailure', {
          source: 'upstream',
          context: `connection closed during the TLS handshake with ${peer.toString()}`,
        }),
      )
    }
    const onTimeout = (): void => {
      fail(
        new PingoraError('TLSHandshakeTimedout', {
          source: 'upstream',
          context: `TLS handshake with ${peer.toString()}, timeout ${timeoutMs}ms`,
        }),
      )
    }
    const onAbort = (): void => {
      cleanup()
      secure.destroy()
      reject((signal as AbortSignal).reason)
    }
    secure.once('secureConnect', onSecure)
    secure.once('error', onError)
    secure.once('close', onClose)
    if (timeoutMs !== undefined) timer = setFastTimeout(onTimeout, timeoutMs)
    if (signal !== undefined) {
      if (signal.aborted) onAbort()
      else signal.addEventListener('abort', onAbort, { once: true })
    }
  })
}

function tlsFailure(error: Error, peer: Peer): PingoraError {
  return tlsErrorToPingora(error, 'upstream', `TLS handshake with ${peer.toString()}`)
}
