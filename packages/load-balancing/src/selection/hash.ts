/**
 * Small non-cryptographic hashes used by the selection algorithms: 64-bit FNV-1a (Pingora's
 * `FnvHasher`, for {@link FNVHash}) and CRC-32 (nginx's and memcached's ketama hash, for
 * {@link Consistent}). Plain JS: both run on short keys where a native call costs more than the
 * hash itself.
 * @internal
 */

const TWO_32 = 4_294_967_296

/**
 * A 64-bit value as two unsigned 32-bit halves; written by the hash functions so the hot path
 * allocates nothing.
 * @internal
 */
export interface U64 {
  hi: number
  lo: number
}

// FNV-1a 64: offset basis 0xcbf29ce484222325, prime 0x100000001b3 = 2^40 + 0x1b3.
const FNV_OFFSET_HI = 0xcbf29ce4
const FNV_OFFSET_LO = 0x84222325

/**
 * 64-bit FNV-1a of `bytes` into `out`.
 * @internal
 */
export function fnv1a64(bytes: Uint8Array, out: U64): void {
  let hi = FNV_OFFSET_HI
  let lo = FNV_OFFSET_LO
  for (let i = 0; i < bytes.length; i++) {
    lo = (lo ^ (bytes[i] as number)) >>> 0
    // (hi * 2^32 + lo) * (2^40 + 0x1b3) mod 2^64; `lo * 0x1b3` < 2^41 stays exact.
    const low = lo * 0x1b3
    const newLo = low >>> 0
    hi = (Math.imul(hi, 0x1b3) + (low - newLo) / TWO_32 + (lo << 8)) >>> 0
    lo = newLo
  }
  out.hi = hi
  out.lo = lo
}

/**
 * 64-bit FNV-1a of the 8 little-endian bytes of the u64 `value`, into `out` (Pingora hashes
 * `index.to_le_bytes()` to pick fallbacks).
 * @internal
 */
export function fnv1a64OfU64(value: U64, out: U64): void {
  let hi = FNV_OFFSET_HI
  let lo = FNV_OFFSET_LO
  for (let i = 0; i < 8; i++) {
    const byte = i < 4 ? (value.lo >>> (i * 8)) & 0xff : (value.hi >>> ((i - 4) * 8)) & 0xff
    lo = (lo ^ byte) >>> 0
    const low = lo * 0x1b3
    const newLo = low >>> 0
    hi = (Math.imul(hi, 0x1b3) + (low - newLo) / TWO_32 + (lo << 8)) >>> 0
    lo = newLo
  }
  out.hi = hi
  out.lo = lo
}

/**
 * `value mod n` for a u64 and `n` below 2^26 (exact in doubles).
 * @internal
 */
export function modU64(value: U64, n: number): number {
  return ((value.hi % n) * (TWO_32 % n) + value.lo) % n
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

/**
 * Continues a CRC-32 (IEEE 802.3, as zlib and nginx's `ngx_crc32_*`) over `bytes`. Pass the raw
 * (pre-final) register: start with `0xffffffff`, finish with `~crc >>> 0`.
 * @internal
 */
export function crc32Update(crc: number, bytes: Uint8Array): number {
  let c = crc
  for (let i = 0; i < bytes.length; i++) {
    c = (CRC_TABLE[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8)
  }
  return c >>> 0
}

/**
 * CRC-32 of `bytes`.
 * @internal
 */
export function crc32(bytes: Uint8Array): number {
  return ~crc32Update(0xffffffff, bytes) >>> 0
}
