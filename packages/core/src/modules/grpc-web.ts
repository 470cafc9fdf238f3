import type { HeaderMap, RequestHeader, ResponseHeader } from '@pingora-ts/http'
import type { HttpModule, HttpModuleBuilder } from './http-modules.ts'

/** The gRPC-web content types and their gRPC counterparts (the binary forms only). */
const GRPC_WEB = 'application/grpc-web'
const GRPC = 'application/grpc'

/** Flag byte of a gRPC-web trailer frame (the high bit of the message flags). */
const TRAILER_FRAME_FLAG = 0x80

/** Largest trailer block encoded into the body; beyond it the trailers are cut (bounded memory). */
const MAX_TRAILER_BYTES = 64 * 1024

/**
 * The per-request half of {@link GrpcWeb}: turns an HTTP/1.1 gRPC-web call into a gRPC call for
 * an HTTP/2 origin and the gRPC answer back into gRPC-web. Port of `GrpcWebBridge` in
 * `pingora-core/src/modules/http/grpc_web.rs` and `protocols/http/bridge/grpc_web.rs`.
 *
 * - Request: `content-type: application/grpc-web[+proto]` becomes `application/grpc[+proto]`
 *   and `te: trailers` is added (gRPC origins require it). Message frames are the same in both
 *   protocols, so the body passes unchanged. Other requests are left alone.
 * - Response: `application/grpc[+proto]` becomes `application/grpc-web[+proto]`, and the
 *   `Content-Length` goes (the trailers are appended to the body).
 * - Trailers (`grpc-status`, `grpc-message`, metadata) are encoded into one gRPC-web trailer
 *   frame at the end of the body (flag `0x80`, 4-byte length, `name: value\r\n` lines) and
 *   removed from the HTTP trailers. A trailers-only answer (status in the response header) is
 *   passed as headers, which gRPC-web clients read.
 *
 * The `text` forms (`application/grpc-web-text`, base64 bodies) are not bridged, as in Pingora.
 * The upstream must speak HTTP/2 (`peer.options.setHttpVersion(2, 2)` in `upstreamPeer`).
 */
export class GrpcWebBridge implements HttpModule {
  #enabled = true
  #active = false

  /** Turns the bridge off for this request (call it from `requestFilter`). */
  disable(): void {
    this.#enabled = false
  }

  /** Whether this request was recognised as gRPC-web and is being bridged. */
  get isActive(): boolean {
    return this.#active
  }

  /**
   * Rewrites a gRPC-web request into a gRPC one.
   * @param request - the client's request header
   */
  requestHeaderFilter(request: RequestHeader): void {
    if (!this.#enabled) return
    const contentType = request.getHeader('content-type')
    if (contentType === undefined) return
    const grpc = toGrpc(contentType)
    if (grpc === undefined) return
    this.#active = true
    request.insertHeader('content-type', grpc)
    request.insertHeader('te', 'trailers')
    // The gRPC-web body framing is the gRPC one: the length stays right.
  }

  /**
   * Rewrites the gRPC response header into a gRPC-web one.
   * @param response - the response header sent to the client
   */
  responseHeaderFilter(response: ResponseHeader): void {
    if (!this.#active) return
    const contentType = response.getHeader('content-type')
    if (contentType !== undefined) {
      const lower = contentType.toLowerCase()
      if (lower.startsWith(GRPC) && !lower.startsWith(GRPC_WEB)) {
        response.insertHeader('content-type', `${GRPC_WEB}${contentType.slice(GRPC.length)}`)
      }
    }
    // The trailer frame is appended to the body.
    response.removeHeader('content-length')
  }

  /**
   * Encodes the trailers as the gRPC-web trailer frame appended to the body, and empties them.
   * @param trailers - the response trailers
   * @returns the frame bytes, `undefined` when the request is not bridged
   */
  responseTrailerFilter(trailers: HeaderMap): Uint8Array | undefined {
    if (!this.#active) return undefined
    const frame = encodeTrailerFrame(trailers)
    trailers.clear()
    return frame
  }
}

/**
 * The gRPC-web bridge module (Pingora's `GrpcWeb`): add it in `initDownstreamModules` and
 * gRPC-web clients (browsers, `grpc-web`, Connect's gRPC-web transport) reach gRPC origins over
 * HTTP/2 through the proxy. See {@link GrpcWebBridge} for what it rewrites.
 *
 * @example
 * ```ts
 * const app: ProxyHttp<undefined> = {
 *   newCtx: () => undefined,
 *   initDownstreamModules: (modules) => modules.addModule(new GrpcWeb()),
 *   upstreamPeer: () => {
 *     const peer = new HttpPeer('127.0.0.1:50051', false, '')
 *     peer.options.setHttpVersion(2, 2) // h2c with prior knowledge
 *     return peer
 *   },
 * }
 * ```
 */
export class GrpcWeb implements HttpModuleBuilder {
  /** Runs before modules of lower order (so compression sees the gRPC-web body). */
  readonly order = 0

  /** Creates the bridge for one request. */
  init(): GrpcWebBridge {
    return new GrpcWebBridge()
  }
}

/** `application/grpc-web[+proto]` → `application/grpc[+proto]`; anything else `undefined`. */
function toGrpc(contentType: string): string | undefined {
  const lower = contentType.toLowerCase()
  if (!lower.startsWith(GRPC_WEB)) return undefined
  const rest = contentType.slice(GRPC_WEB.length)
  // `-text` (base64) is not bridged; only the binary forms (`+proto`, `+json`, none).
  if (rest !== '' && !rest.startsWith('+') && !rest.startsWith(';')) return undefined
  return `${GRPC}${rest}`
}

/**
 * Encodes trailer fields as a gRPC-web trailer frame: flag `0x80`, the block's length (4 bytes,
 * big-endian), then `name: value\r\n` per field with lower-case names.
 * @param trailers - the fields
 */
export function encodeTrailerFrame(trailers: HeaderMap): Uint8Array {
  let block = ''
  for (let i = 0; i < trailers.size; i++) {
    const line = `${trailers.lowerNameAt(i)}: ${trailers.valueAt(i)}\r\n`
    if (block.length + line.length > MAX_TRAILER_BYTES) break
    block += line
  }
  const body = Buffer.from(block, 'latin1')
  const frame = Buffer.allocUnsafe(5 + body.length)
  frame[0] = TRAILER_FRAME_FLAG
  frame.writeUInt32BE(body.length, 1)
  body.copy(frame, 5)
  return frame
}
