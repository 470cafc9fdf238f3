import type net from 'node:net'
import { PingoraError } from '@pingora-ts/error'
import type { ConnectionRejectReason } from '../diagnostics.ts'
import type { Digest } from '../protocols/digest.ts'
import {
  DEFAULT_PROXY_V2_MAX_BYTES,
  PROXY_HEADER_INCOMPLETE,
  PROXY_V2_HEADER_BYTES,
  type ProxyHeader,
  parseProxyHeader,
} from '../protocols/proxy-protocol.ts'
import { NetworkList } from './network-list.ts'

/** How long a PROXY protocol header may take to arrive unless told otherwise, in ms. */
export const DEFAULT_PROXY_HEADER_TIMEOUT_MS = 5_000

/**
 * How a listener accepts the PROXY protocol (set as `ListenerConfig.proxyProtocol`). Every
 * connection must then start with a v1 or v2 header: it is read before TLS and before the app
 * sees a byte, and its addresses replace the socket's in the stream's digest.
 */
export interface ProxyProtocolOptions {
  /**
   * The networks the load balancers sending headers are in (CIDRs or addresses). A connection
   * from anywhere else is closed before a byte is read: otherwise any client could claim any
   * address. Trust everything with `['0.0.0.0/0', '::/0']`.
   */
  readonly trusted: readonly string[]
  /** How long the header may take to arrive, in ms. @defaultValue {@link DEFAULT_PROXY_HEADER_TIMEOUT_MS} */
  readonly headerTimeoutMs?: number | undefined
  /** The largest v2 header accepted, in bytes. @defaultValue {@link DEFAULT_PROXY_V2_MAX_BYTES} */
  readonly maxV2Bytes?: number | undefined
  /** Which versions are accepted. @defaultValue `[1, 2]` */
  readonly versions?: readonly (1 | 2)[] | undefined
}

/** @internal A {@link ProxyProtocolOptions} checked and compiled once per listener. */
export class ProxyProtocolAcceptor {
  readonly trusted: NetworkList
  readonly headerTimeoutMs: number
  readonly maxV2Bytes: number
  readonly versions: readonly (1 | 2)[]

  constructor(options: ProxyProtocolOptions) {
    if (!Array.isArray(options?.trusted)) {
      throw new TypeError('proxyProtocol.trusted must be a list of networks')
    }
    this.trusted = new NetworkList(options.trusted)
    const timeoutMs = options.headerTimeoutMs ?? DEFAULT_PROXY_HEADER_TIMEOUT_MS
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 2_147_483_647) {
      throw new RangeError(
        `proxyProtocol.headerTimeoutMs must be a positive integer, got ${String(timeoutMs)}`,
      )
    }
    this.headerTimeoutMs = timeoutMs
    const maxV2 = options.maxV2Bytes ?? DEFAULT_PROXY_V2_MAX_BYTES
    if (!Number.isInteger(maxV2) || maxV2 < PROXY_V2_HEADER_BYTES || maxV2 > 65_551) {
      throw new RangeError(
        `proxyProtocol.maxV2Bytes must be an integer from 16 to 65551, got ${String(maxV2)}`,
      )
    }
    this.maxV2Bytes = maxV2
    const versions = options.versions ?? [1, 2]
    if (versions.length === 0 || versions.some((v) => v !== 1 && v !== 2)) {
      throw new RangeError('proxyProtocol.versions must list 1, 2 or both')
    }
    this.versions = Object.freeze([...versions])
  }
}

/** @internal Why {@link readProxyHeader} refused a connection, with the error. */
export class ProxyHeaderRejection extends Error {
  readonly reason: ConnectionRejectReason
  readonly error: PingoraError

  constructor(reason: ConnectionRejectReason, error: PingoraError) {
    super(error.message)
    this.reason = reason
    this.error = error
  }
}

/**
 * Reads the PROXY protocol header from a freshly accepted socket, then pushes back (`unshift`)
 * whatever arrived after it, so TLS or the app sees the stream from its first real byte.
 * Buffers at most one header's worth of bytes (107 for v1, `maxV2Bytes` for v2).
 * @internal
 * @throws ProxyHeaderRejection for an untrusted source, a malformed or truncated header, or a
 *   timeout
 */
export function readProxyHeader(
  socket: net.Socket,
  acceptor: ProxyProtocolAcceptor,
): Promise<ProxyHeader> {
  return new Promise((resolve, reject) => {
    const peer = socket.remoteAddress
    if (!acceptor.trusted.contains(peer)) {
      reject(
        new ProxyHeaderRejection(
          'proxy-protocol-untrusted',
          PingoraError.downstream(
            'HandshakeError',
            `PROXY protocol header from untrusted source ${peer ?? 'unknown'}`,
          ),
        ),
      )
      return
    }
    let buffered: Buffer | undefined
    const parseOptions = { maxV2Bytes: acceptor.maxV2Bytes, versions: acceptor.versions }
    const finish = (): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.off('error', onError)
      socket.off('close', onEnd)
    }
    const fail = (reason: ConnectionRejectReason, error: PingoraError): void => {
      finish()
      reject(new ProxyHeaderRejection(reason, error))
    }
    const onData = (chunk: Buffer): void => {
      buffered = buffered === undefined ? chunk : Buffer.concat([buffered, chunk])
      let parsed: ReturnType<typeof parseProxyHeader>
      try {
        parsed = parseProxyHeader(buffered, parseOptions)
      } catch (error) {
        fail('proxy-protocol-malformed', error as PingoraError)
        return
      }
      if (parsed === PROXY_HEADER_INCOMPLETE) return
      finish()
      socket.pause()
      if (parsed.length < buffered.length) socket.unshift(buffered.subarray(parsed.length))
      resolve(parsed.header)
    }
    const onEnd = (): void => {
      fail(
        'proxy-protocol-malformed',
        PingoraError.downstream(
          'ConnectionClosed',
          'connection ended before the PROXY protocol header was complete',
        ),
      )
    }
    const onError = (error: Error): void => {
      fail(
        'proxy-protocol-malformed',
        new PingoraError('ReadError', {
          source: 'downstream',
          context: 'reading the PROXY protocol header',
          cause: error,
        }),
      )
    }
    const timer = setTimeout(() => {
      fail(
        'proxy-protocol-timeout',
        new PingoraError('ReadTimedout', {
          source: 'downstream',
          context: `PROXY protocol header not received within ${acceptor.headerTimeoutMs}ms`,
        }),
      )
    }, acceptor.headerTimeoutMs)
    socket.on('data', onData)
    socket.once('end', onEnd)
    socket.once('close', onEnd)
    socket.on('error', onError)
  })
}

/**
 * Records a PROXY protocol header in a connection's digest: `digest.proxyProtocol` keeps the
 * whole header, and for a `'proxy'` command with addresses, `peerAddr` and `localAddr` become
 * the original client and destination (`socketPeerAddr` keeps the load balancer's address).
 * @internal
 */
export function applyProxyHeader(digest: Digest, header: ProxyHeader): void {
  digest.proxyProtocol = header
  if (header.command !== 'proxy') return
  if (header.source !== undefined) digest.peerAddr = header.source
  if (header.destination !== undefined) digest.localAddr = header.destination
}
