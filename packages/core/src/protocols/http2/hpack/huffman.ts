/**
 * The HPACK Huffman code (RFC 7541 Appendix B) and its table-driven codec.
 *
 * The code is canonical: codes of the same length are consecutive and ordered by symbol, so the
 * code lengths alone define it and the codes are rebuilt from them at load.
 *
 * Decoding walks the code tree four bits at a time. Every internal node of the tree is a state
 * (256 of them, the root is state 0); `DECODE_TABLE[state * 16 + nibble]` packs what happens
 * when `nibble` arrives in `state`:
 *
 * ```
 *  bit 18      17     16     15..8    7..0
 *  ACCEPT    FAIL   EMIT    symbol   next state
 * ```
 *
 * No code is shorter than 5 bits, so one nibble completes at most one symbol. FAIL marks a
 * nibble that completes EOS (RFC 7541 §5.2: EOS in a string is an error). ACCEPT marks a next
 * state where the string may end: the bits since the last symbol are all ones and fewer than 8
 * (valid padding, a prefix of EOS).
 */

/** Length in bits of the code of each symbol 0..255, then of EOS (256). */
// biome-ignore format: sixteen symbols a row, as in RFC 7541 Appendix B
const CODE_LENGTHS = Uint8Array.of(
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
)

const EOS = 256
const EMIT = 1 << 16
const FAIL = 1 << 17
const ACCEPT = 1 << 18

/** The code of each symbol (right-aligned in `CODE_LENGTHS[symbol]` bits). */
const CODES = buildCodes()

/** The four-bit decoding automaton (see the file comment). */
const DECODE_TABLE = buildDecodeTable()

function buildCodes(): Uint32Array {
  const codes = new Uint32Array(EOS + 1)
  const symbols = Array.from({ length: EOS + 1 }, (_, symbol) => symbol).sort(
    (a, b) => (CODE_LENGTHS[a] as number) - (CODE_LENGTHS[b] as number) || a - b,
  )
  let code = 0
  let length = CODE_LENGTHS[symbols[0] as number] as number
  for (let i = 0; i < symbols.length; i++) {
    const symbol = symbols[i] as number
    const symbolLength = CODE_LENGTHS[symbol] as number
    if (i > 0) code = (code + 1) * 2 ** (symbolLength - length)
    length = symbolLength
    codes[symbol] = code
  }
  return codes
}

function buildDecodeTable(): Uint32Array {
  // The code tree: child[node * 2 + bit] is an internal node id (>= 0) or ~symbol for a leaf.
  const child = new Int32Array(512).fill(-1 - 1024)
  const empty = -1 - 1024
  // Depth of each internal node and whether the path to it is all ones (a prefix of EOS).
  const depth = new Uint8Array(256)
  const allOnes = new Uint8Array(256)
  allOnes[0] = 1
  let nodes = 1
  for (let symbol = 0; symbol <= EOS; symbol++) {
    const length = CODE_LENGTHS[symbol] as number
    const code = CODES[symbol] as number
    let node = 0
    for (let bit = length - 1; bit > 0; bit--) {
      const slot = node * 2 + (Math.floor(code / 2 ** bit) & 1)
      if ((child[slot] as number) === empty) {
        child[slot] = nodes
        depth[nodes] = (depth[node] as number) + 1
        allOnes[nodes] = (allOnes[node] as number) & (slot & 1)
        nodes++
      }
      node = child[slot] as number
    }
    child[node * 2 + (code & 1)] = ~symbol
  }
  const table = new Uint32Array(256 * 16)
  for (let state = 0; state < nodes; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state
      let entry = 0
      for (let bit = 3; bit >= 0; bit--) {
        const next = child[node * 2 + ((nibble >> bit) & 1)] as number
        if (next >= 0) {
          node = next
          continue
        }
        if (~next === EOS) entry |= FAIL
        else entry |= EMIT | (~next << 8)
        node = 0
      }
      if ((allOnes[node] as number) === 1 && (depth[node] as number) < 8) entry |= ACCEPT
      table[state * 16 + nibble] = entry | node
    }
  }
  return table
}

/** The most bytes `length` bytes of Huffman code can decode to (no code is under 5 bits). */
export function huffmanMaxDecodedLength(length: number): number {
  return Math.floor((length * 8) / 5)
}

/**
 * Decodes the Huffman-coded bytes `source[start..end)` into `target` from `offset`.
 * `target` must have room for {@link huffmanMaxDecodedLength} bytes.
 *
 * @returns the offset after the last decoded byte, or `-1` when the code is invalid: EOS
 *   inside the string, or padding longer than 7 bits or not all ones (RFC 7541 §5.2).
 */
export function huffmanDecode(
  source: Uint8Array,
  start: number,
  end: number,
  target: Uint8Array,
  offset: number,
): number {
  let state = 0
  let entry = ACCEPT
  let out = offset
  for (let i = start; i < end; i++) {
    const byte = source[i] as number
    entry = DECODE_TABLE[(state << 4) | (byte >> 4)] as number
    if ((entry & (EMIT | FAIL)) !== 0) {
      if ((entry & FAIL) !== 0) return -1
      target[out++] = entry >> 8
    }
    state = entry & 0xff
    entry = DECODE_TABLE[(state << 4) | (byte & 0xf)] as number
    if ((entry & (EMIT | FAIL)) !== 0) {
      if ((entry & FAIL) !== 0) return -1
      target[out++] = entry >> 8
    }
    state = entry & 0xff
  }
  return (entry & ACCEPT) !== 0 ? out : -1
}

/**
 * The length in bytes of the Huffman code of `value` (its characters taken as octets).
 *
 * @returns the length, or `-1` when `value` holds a character above U+00FF (not an octet).
 */
export function huffmanEncodedLength(value: string): number {
  let bits = 0
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i)
    if (code > 0xff) return -1
    bits += CODE_LENGTHS[code] as number
  }
  return (bits + 7) >> 3
}

/**
 * Writes the Huffman code of `value` (octets only: check with {@link huffmanEncodedLength})
 * into `target` at `offset`, padded with the most significant bits of EOS (ones).
 *
 * @returns the offset after the last written byte.
 */
export function huffmanEncode(value: string, target: Uint8Array, offset: number): number {
  // `pending` holds fewer than 8 bits between codes; a code is added in pieces of at most 24
  // bits so the accumulator never exceeds 31 bits.
  let pending = 0
  let bits = 0
  let out = offset
  for (let i = 0; i < value.length; i++) {
    const symbol = value.charCodeAt(i) & 0xff
    let length = CODE_LENGTHS[symbol] as number
    const code = CODES[symbol] as number
    if (length > 24) {
      pending = (pending << (length - 8)) | (code >>> 8)
      bits += length - 8
      while (bits >= 8) {
        bits -= 8
        target[out++] = pending >>> bits
      }
      pending &= (1 << bits) - 1
      length = 8
    }
    pending = (pending << length) | (code & ((1 << length) - 1))
    bits += length
    while (bits >= 8) {
      bits -= 8
      target[out++] = pending >>> bits
    }
    pending &= (1 << bits) - 1
  }
  if (bits > 0) target[out++] = (pending << (8 - bits)) | (0xff >> bits)
  return out
}
