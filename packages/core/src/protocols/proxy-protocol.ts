import net from 'node:net'
import { PingoraError } from '@pingora-ts/error'
import type { SocketAddress } from './digest.ts'

/**
 * The PROXY protocol (HAProxy's `proxy-protocol.txt`, versions 1 and 2): the header a load
 * balancer puts in front of a TCP stream to pass on the original client and destination
 * addresses. Pingora has no PROXY protocol support (its issue #132); this module parses and
 * builds the headers, strictly and within fixed bounds.
 */

/** The longest version 1 header, `\r\n` included (spec §2.1). */
export const PROXY_V1_MAX_BYTES = 107

/** The fixed part of a version 2 header: signature, version/command, family, length. */
export const PROXY_V2_HEADER_BYTES = 16

/** The largest version 2 header accepted unless told otherwise (addresses and TLVs included). */
export const DEFAULT_PROXY_V2_MAX_BYTES = 4096

/** The 12-byte signature that opens a version 2 header. */
const V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
])
const V1_PREFIX = Buffer.from('PROXY ', 'latin1')

/** The version 2 TLV types the spec names (§2.2.1 to §2.2.7). */
export const PROXY_TLV = {
  /** The ALPN the client negotiated with the proxy. */
  ALPN: 0x01,
  /** The host name the client asked for (SNI), UTF-8. */
  AUTHORITY: 0x02,
  /** A CRC32C checksum of the whole header. */
  CRC32C: 0x03,
  /** Padding to ignore. */
  NOOP: 0x04,
  /** An opaque connection id (up to 128 bytes). */
  UNIQUE_ID: 0x05,
  /** TLS facts about the client connection (with sub-TLVs). */
  SSL: 0x20,
  /** The network namespace, US-ASCII. */
  NETNS: 0x30,
} as const

/** One version 2 TLV: a type and its raw value. */
export interface ProxyTlv {
  /** The type byte (see {@link PROXY_TLV}; 0xE0 to 0xEF are for custom use). */
  readonly type: number
  /** The value bytes. */
  readonly value: Uint8Array
}

/** A parsed PROXY protocol header. */
export interface ProxyHeader {
  /** Which version the peer sent. */
  readonly version: 1 | 2
  /**
   * `'proxy'`: the addresses are the original connection's. `'local'`: the proxy speaks for
   * itself (a v2 `LOCAL` health check, or v1 `UNKNOWN`); use the socket's own addresses.
   */
  readonly command: 'proxy' | 'local'
  /** The original transport: `'tcp'`, `'udp'`, `'unix'` (v2 only) or `'unspec'`. */
  readonly transport: 'tcp' | 'udp' | 'unix' | 'unspec'
  /** The original client address (`undefined` for `'local'` and unknown families). */
  readonly source: SocketAddress | undefined
  /** The original destination address (`undefined` for `'local'` and unknown families). */
  readonly destination: SocketAddress | undefined
  /** The version 2 TLVs in header order; empty for version 1. */
  readonly tlvs: readonly ProxyTlv[]
}

/** The result of {@link parseProxyHeader}: the header and how many bytes it took. */
export interface ParsedProxyHeader {
  /** The header. */
  readonly header: ProxyHeader
  /** Its length in bytes; application data starts right after. */
  readonly length: number
}

/** Returned by {@link parseProxyHeader} when `data` is a prefix of a header. */
export const PROXY_HEADER_INCOMPLETE = 'incomplete'

/** Limits of {@link parseProxyHeader}. */
export interface ProxyHeaderParseOptions {
  /** The largest version 2 header (16 fixed bytes included). @defaultValue {@link DEFAULT_PROXY_V2_MAX_BYTES} */
  readonly maxV2Bytes?: number | undefined
  /** Which versions are accepted. @defaultValue both */
  readonly versions?: readonly (1 | 2)[] | undefined
}

/**
 * Parses the PROXY protocol header at the start of `data`. Strict: the v1 line must be exactly
 * `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n` (single spaces, addresses of the stated
 * family, ports without leading zeros) or `PROXY UNKNOWN...\r\n`, within 107 bytes; a v2
 * header must have version 2, a known command, an address block as long as its family needs,
 * TLVs that exactly fill the rest and a matching CRC32C when one is present.
 * @param data - the first bytes of the connection
 * @param options - the v2 size bound and the versions accepted
 * @returns the header and its length, or {@link PROXY_HEADER_INCOMPLETE} when `data` is a
 *   strict prefix of a possible header
 * @throws PingoraError `HandshakeError` (source `'downstream'`) when it is not a valid header
 */
export function parseProxyHeader(
  data: Uint8Array,
  options: ProxyHeaderParseOptions = {},
): ParsedProxyHeader | typeof PROXY_HEADER_INCOMPLETE {
  const versions = options.versions ?? BOTH_VERSIONS
  if (data.length === 0) return PROXY_HEADER_INCOMPLETE
  if (data[0] === 0x50 /* P */ && versions.includes(1)) return parseV1(data)
  if (data[0] === 0x0d && versions.includes(2)) {
    return parseV2(data, options.maxV2Bytes ?? DEFAULT_PROXY_V2_MAX_BYTES)
  }
  throw malformed('the connection does not start with a PROXY protocol header')
}

const BOTH_VERSIONS: readonly (1 | 2)[] = Object.freeze([1, 2])

function parseV1(data: Uint8Array): ParsedProxyHeader | typeof PROXY_HEADER_INCOMPLETE {
  const prefix = Math.min(data.length, V1_PREFIX.length)
  for (let i = 0; i < prefix; i++) {
    if (data[i] !== V1_PREFIX[i]) throw malformed('not a PROXY protocol v1 header')
  }
  let end = -1
  const limit = Math.min(data.length, PROXY_V1_MAX_BYTES)
  for (let i = V1_PREFIX.length; i < limit; i++) {
    if (data[i] === 0x0a) {
      end = i
      break
    }
  }
  if (end < 0) {
    if (data.length >= PROXY_V1_MAX_BYTES) {
      throw malformed(`PROXY v1 header longer than ${PROXY_V1_MAX_BYTES} bytes`)
    }
    return PROXY_HEADER_INCOMPLETE
  }
  if (data[end - 1] !== 0x0d) throw malformed('PROXY v1 header must end with CRLF')
  const line = Buffer.from(data.buffer, data.byteOffset, end - 1).toString('latin1')
  const length = end + 1
  const fields = line.split(' ')
  const protocol = fields[1]
  if (protocol === 'UNKNOWN') {
    // Spec §2.1: the receiver must ignore anything after UNKNOWN up to the CRLF.
    return {
      header: {
        version: 1,
        command: 'local',
        transport: 'unspec',
        source: undefined,
        destination: undefined,
        tlvs: EMPTY_TLVS,
      },
      length,
    }
  }
  if (fields.length !== 6 || (protocol !== 'TCP4' && protocol !== 'TCP6')) {
    throw malformed('PROXY v1 header must be "PROXY TCP4|TCP6 src dst sport dport"')
  }
  const family = protocol === 'TCP4' ? 4 : 6
  const source = v1Address(fields[2] as string, fields[4] as string, family)
  const destination = v1Address(fields[3] as string, fields[5] as string, family)
  return {
    header: {
      version: 1,
      command: 'proxy',
      transport: 'tcp',
      source,
      destination,
      tlvs: EMPTY_TLVS,
    },
    length,
  }
}

function v1Address(address: string, portText: string, family: 4 | 6): SocketAddress {
  if (net.isIP(address) !== family) {
    throw malformed(`PROXY v1 header: "${address}" is not an IPv${family} address`)
  }
  return { address, port: parsePort(portText), family: family === 4 ? 'IPv4' : 'IPv6' }
}

function parsePort(text: string): number {
  // Spec §2.1: decimal, 0 to 65535, no leading zero.
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > 65535) {
    throw malformed(`PROXY v1 header: invalid port "${text}"`)
  }
  return Number(text)
}

const EMPTY_TLVS: readonly ProxyTlv[] = Object.freeze([])

function parseV2(
  data: Uint8Array,
  maxBytes: number,
): ParsedProxyHeader | typeof PROXY_HEADER_INCOMPLETE {
  const prefix = Math.min(data.length, V2_SIGNATURE.length)
  for (let i = 0; i < prefix; i++) {
    if (data[i] !== V2_SIGNATURE[i]) throw malformed('not a PROXY protocol v2 header')
  }
  if (data.length < PROXY_V2_HEADER_BYTES) return PROXY_HEADER_INCOMPLETE
  const versionCommand = data[12] as number
  if (versionCommand >> 4 !== 2) throw malformed('PROXY v2 header: version must be 2')
  const command = versionCommand & 0x0f
  if (command > 1) throw malformed(`PROXY v2 header: unknown command ${command}`)
  const familyTransport = data[13] as number
  const family = familyTransport >> 4
  const transportCode = familyTransport & 0x0f
  if (family > 3 || transportCode > 2) {
    throw malformed(`PROXY v2 header: unknown family/transport 0x${familyTransport.toString(16)}`)
  }
  const bodyLength = ((data[14] as number) << 8) | (data[15] as number)
  const length = PROXY_V2_HEADER_BYTES + bodyLength
  if (length > maxBytes) {
    throw malformed(`PROXY v2 header of ${length} bytes exceeds the limit of ${maxBytes}`)
  }
  if (data.length < length) return PROXY_HEADER_INCOMPLETE
  const body = Buffer.from(data.buffer, data.byteOffset + PROXY_V2_HEADER_BYTES, bodyLength)
  const addressBytes = family === 1 ? 12 : family === 2 ? 36 : family === 3 ? 216 : 0
  if (bodyLength < addressBytes) {
    throw malformed(`PROXY v2 header: ${bodyLength} bytes cannot hold a family ${family} address`)
  }
  let source: SocketAddress | undefined
  let destination: SocketAddress | undefined
  if (family === 1) {
    source = { address: ipv4At(body, 0), port: body.readUInt16BE(8), family: 'IPv4' }
    destination = { address: ipv4At(body, 4), port: body.readUInt16BE(10), family: 'IPv4' }
  } else if (family === 2) {
    source = { address: ipv6At(body, 0), port: body.readUInt16BE(32), family: 'IPv6' }
    destination = { address: ipv6At(body, 16), port: body.readUInt16BE(34), family: 'IPv6' }
  } else if (family === 3) {
    source = { address: unixPathAt(body, 0), port: 0, family: 'unix' }
    destination = { address: unixPathAt(body, 108), port: 0, family: 'unix' }
  }
  const tlvs = parseTlvs(data.subarray(0, length), PROXY_V2_HEADER_BYTES + addressBytes)
  const isLocal = command === 0
  return {
    header: {
      version: 2,
      command: isLocal ? 'local' : 'proxy',
      transport: family === 3 ? 'unix' : (TRANSPORTS[transportCode] ?? 'unspec'),
      // Spec §2.2: with LOCAL the receiver must ignore the address block.
      source: isLocal ? undefined : source,
      destination: isLocal ? undefined : destination,
      tlvs,
    },
    length,
  }
}

const TRANSPORTS = ['unspec', 'tcp', 'udp'] as const

/** Parses the TLVs of a whole v2 header from `start`, checking a CRC32C TLV when present. */
function parseTlvs(header: Uint8Array, start: number): readonly ProxyTlv[] {
  if (start === header.length) return EMPTY_TLVS
  const tlvs: ProxyTlv[] = []
  let p = start
  while (p < header.length) {
    if (p + 3 > header.length) throw malformed('PROXY v2 header: truncated TLV')
    const type = header[p] as number
    const length = ((header[p + 1] as number) << 8) | (header[p + 2] as number)
    if (p + 3 + length > header.length) throw malformed('PROXY v2 header: TLV overruns the header')
    // A copy: the header's bytes may be freed once the connection's data flows.
    const value = new Uint8Array(header.subarray(p + 3, p + 3 + length))
    if (type === PROXY_TLV.CRC32C) checkCrc(header, p, value)
    tlvs.push({ type, value })
    p += 3 + length
  }
  return tlvs
}

function checkCrc(header: Uint8Array, offset: number, value: Uint8Array): void {
  if (value.length !== 4) throw malformed('PROXY v2 header: CRC32C TLV must be 4 bytes')
  // Spec §2.2.3: the checksum covers the whole header with the checksum field zeroed.
  const copy = Uint8Array.from(header)
  copy.fill(0, offset + 3, offset + 7)
  const expected =
    (((value[0] as number) << 24) |
      ((value[1] as number) << 16) |
      ((value[2] as number) << 8) |
      (value[3] as number)) >>>
    0
  if (crc32c(copy) !== expected) throw malformed('PROXY v2 header: CRC32C mismatch')
}

function tlvsLengthFrom(tlvs: readonly ProxyTlv[], from: number): number {
  let total = 0
  for (let i = from; i < tlvs.length; i++) total += 3 + (tlvs[i] as ProxyTlv).value.length
  return total
}

function ipv4At(body: Buffer, offset: number): string {
  return `${body[offset]}.${body[offset + 1]}.${body[offset + 2]}.${body[offset + 3]}`
}

function ipv6At(body: Buffer, offset: number): string {
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(body.readUInt16BE(offset + i).toString(16))
  // Normalise (compress zeros) the way sockets report IPv6 addresses.
  return new net.SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address
}

function unixPathAt(body: Buffer, offset: number): string {
  const end = body.indexOf(0, offset)
  return body.toString('utf8', offset, end < 0 || end > offset + 108 ? offset + 108 : end)
}

function malformed(context: string): PingoraError {
  return new PingoraError('HandshakeError', { source: 'downstream', context })
}

/** What to announce in a PROXY protocol header sent to an upstream. */
export interface ProxyHeaderInit {
  /** The original client address; `undefined` sends v1 `UNKNOWN` / v2 `LOCAL`. */
  readonly source: SocketAddress | undefined
  /** The original destination address; must be of the same family as `source`. */
  readonly destination: SocketAddress | undefined
  /** TLVs to add (version 2 only). @defaultValue none */
  readonly tlvs?: readonly ProxyTlv[] | undefined
}

/**
 * Builds a PROXY protocol header. Without both addresses, or when they are of different IP
 * families (or not IPs), v1 sends `PROXY UNKNOWN\r\n` and v2 a `LOCAL` header.
 * @param version - 1 (text) or 2 (binary)
 * @param init - the addresses and, for v2, TLVs
 * @throws RangeError when the v2 TLVs make the header longer than 65,551 bytes
 */
export function encodeProxyHeader(version: 1 | 2, init: ProxyHeaderInit): Buffer {
  const source = init.source
  const destination = init.destination
  const family = familyOf(source, destination)
  if (version === 1) {
    if (family === 0 || source === undefined || destination === undefined) {
      return Buffer.from('PROXY UNKNOWN\r\n', 'latin1')
    }
    return Buffer.from(
      `PROXY TCP${family} ${plainIp(source.address)} ${plainIp(destination.address)} ${source.port} ${destination.port}\r\n`,
      'latin1',
    )
  }
  const tlvs = init.tlvs ?? EMPTY_TLVS
  const addressBytes = family === 4 ? 12 : family === 6 ? 36 : 0
  const bodyLength = addressBytes + tlvsLengthFrom(tlvs, 0)
  if (bodyLength > 0xffff) throw new RangeError('PROXY v2 header too long')
  const out = Buffer.alloc(PROXY_V2_HEADER_BYTES + bodyLength)
  V2_SIGNATURE.copy(out, 0)
  out[12] = family === 0 ? 0x20 : 0x21
  out[13] = family === 4 ? 0x11 : family === 6 ? 0x21 : 0x00
  out.writeUInt16BE(bodyLength, 14)
  let p = PROXY_V2_HEADER_BYTES
  if (family !== 0 && source !== undefined && destination !== undefined) {
    const size = family === 4 ? 4 : 16
    writeIp(out, p, source.address, family)
    writeIp(out, p + size, destination.address, family)
    out.writeUInt16BE(source.port, p + 2 * size)
    out.writeUInt16BE(destination.port, p + 2 * size + 2)
    p += addressBytes
  }
  for (const tlv of tlvs) {
    out[p] = tlv.type
    out.writeUInt16BE(tlv.value.length, p + 1)
    out.set(tlv.value, p + 3)
    p += 3 + tlv.value.length
  }
  return out
}

/** 4 or 6 when both addresses are IPs of that family (IPv4-mapped IPv6 counts as IPv4), else 0. */
function familyOf(
  source: SocketAddress | undefined,
  destination: SocketAddress | undefined,
): 0 | 4 | 6 {
  if (source === undefined || destination === undefined) return 0
  const a = net.isIP(plainIp(source.address))
  const b = net.isIP(plainIp(destination.address))
  return a === b && a !== 0 ? (a as 4 | 6) : 0
}

/** Turns `::ffff:10.0.0.1` (a dual-stack socket's view of an IPv4 peer) into `10.0.0.1`. */
function plainIp(address: string): string {
  if (address.length > 7 && address.slice(0, 7).toLowerCase() === '::ffff:') {
    const v4 = address.slice(7)
    if (net.isIPv4(v4)) return v4
  }
  return address
}

function writeIp(out: Buffer, offset: number, address: string, family: 4 | 6): void {
  const ip = plainIp(address)
  if (family === 4) {
    const parts = ip.split('.')
    for (let i = 0; i < 4; i++) out[offset + i] = Number(parts[i])
    return
  }
  // Expand `::` into the missing zero groups, and a trailing dotted quad into two groups.
  let text = ip
  const lastColon = text.lastIndexOf(':')
  if (text.indexOf('.', lastColon) > 0) {
    const quad = text
      .slice(lastColon + 1)
      .split('.')
      .map(Number)
    const high = (((quad[0] ?? 0) << 8) | (quad[1] ?? 0)).toString(16)
    const low = (((quad[2] ?? 0) << 8) | (quad[3] ?? 0)).toString(16)
    text = `${text.slice(0, lastColon + 1)}${high}:${low}`
  }
  const [head = '', tail] = text.split('::')
  const headGroups = head === '' ? [] : head.split(':')
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups =
    tail === undefined
      ? headGroups
      : [
          ...headGroups,
          ...new Array(8 - headGroups.length - tailGroups.length).fill('0'),
          ...tailGroups,
        ]
  for (let i = 0; i < 8; i++)
    out.writeUInt16BE(Number.parseInt(groups[i] ?? '0', 16), offset + 2 * i)
}

let crcTable: Uint32Array | undefined

/** CRC32C (Castagnoli), as the v2 `CRC32C` TLV uses. */
export function crc32c(data: Uint8Array): number {
  let table = crcTable
  if (table === undefined) {
    table = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1
      table[n] = c >>> 0
    }
    crcTable = table
  }
  let crc = 0xffffffff
  for (let i = 0; i < data.length; i++) {
    crc = (table[(crc ^ (data[i] as number)) & 0xff] as number) ^ (crc >>> 8)
  }
  return (crc ^ 0xffffffff) >>> 0
}
