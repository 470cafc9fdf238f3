import { DynamicTable } from './dynamic-table.ts'
import { HpackError } from './hpack-error.ts'
import { huffmanDecode, huffmanMaxDecodedLength } from './huffman.ts'
import { STATIC_TABLE_LENGTH, STATIC_TABLE_NAMES, STATIC_TABLE_VALUES } from './static-table.ts'

/** The largest integer a header block may carry (sizes, indexes, lengths): 2^31 - 1. */
const MAX_INTEGER = 0x7fffffff

/** Strings up to this length are decoded in JS (see `latin1`). */
const SHORT_STRING = 12

/** Huffman scratch kept between blocks; a longer string gets a one-off buffer. */
const KEPT_SCRATCH_BYTES = 4096

/**
 * Octet classes for {@link HpackDecoder.lastBlockNeedsFieldCheck}: `NAME_PLAIN` for octets a
 * field name may hold past its first (RFC 9110 tchar, lowercase: RFC 9113 §8.2.1), and
 * `VALUE_PLAIN` for octets a value may hold (anything but controls other than HTAB, and DEL).
 */
const NAME_PLAIN = 1
const VALUE_PLAIN = 2
const OCTET_CLASS = buildOctetClasses()

function buildOctetClasses(): Uint8Array {
  const classes = new Uint8Array(256)
  for (let octet = 0; octet < 256; octet++) {
    if (octet === 0x09 || (octet >= 0x20 && octet !== 0x7f)) classes[octet] = VALUE_PLAIN
  }
  for (const octet of Buffer.from(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz",
    'latin1',
  )) {
    classes[octet] = (classes[octet] as number) | NAME_PLAIN
  }
  return classes
}

/** Limits of an {@link HpackDecoder}; all are required, the connection owns the defaults. */
export interface HpackDecoderOptions {
  /**
   * The dynamic table bound we advertise in SETTINGS_HEADER_TABLE_SIZE (RFC 9113 default 4096).
   * A table size update above it is a compression error.
   */
  readonly maxDynamicTableSize: number
  /**
   * The largest header list, in RFC 9113 §6.5.2 bytes (name + value + 32 per field): past it the
   * block fails with `'header-list-too-large'`.
   */
  readonly maxHeaderListSize: number
  /** The most fields in one header list: past it the block fails with `'header-list-too-large'`. */
  readonly maxHeaderListPairs: number
}

/**
 * Decodes the HPACK header blocks one peer sends on one connection (RFC 7541), keeping the
 * dynamic table they share. Blocks must be decoded in the order they arrive.
 *
 * Bounded: the table holds at most `maxDynamicTableSize` bytes, strings cannot extend past the
 * block, Huffman output is at most 8/5 of its input, and fields past the header list limits
 * are counted but not kept (so one-byte references to a large entry cannot grow memory).
 */
export class HpackDecoder {
  private readonly table: DynamicTable
  private readonly maxDynamicTableSize: number
  private readonly maxHeaderListSize: number
  private readonly maxHeaderListPairs: number
  /** Huffman output, reused between strings. */
  private scratch: Buffer = Buffer.allocUnsafe(256)
  /** Read cursor in the block being decoded. */
  private position = 0
  /** Where the last string's octets are: `stringBytes[start..stringEnd)`. */
  private stringBytes: Buffer = this.scratch
  private stringEnd = 0
  /** Whether the last string read was plain (see {@link lastBlockNeedsFieldCheck}). */
  private stringPlain = true
  /**
   * After {@link decode}: `false` guarantees that no field of the block holds an octet RFC 9113
   * §8.2.1 forbids or makes suspect, so the caller may skip its per-octet checks; `true` means
   * some field must be checked: a name with an octet other than lowercase tchar (or `:` past
   * the first octet), an empty name, a value with a control character other than HTAB (NUL,
   * CR, LF...) or DEL, or a value starting or ending with SP or HTAB. Computed once per literal
   * and remembered with its dynamic table entry, so indexed fields cost nothing.
   */
  lastBlockNeedsFieldCheck = false

  /** Creates a decoder with an empty dynamic table bounded by `options.maxDynamicTableSize`. */
  constructor(options: HpackDecoderOptions) {
    for (const key of ['maxDynamicTableSize', 'maxHeaderListSize', 'maxHeaderListPairs'] as const) {
      const value = options[key]
      if (!Number.isSafeInteger(value) || value < 0 || value > MAX_INTEGER) {
        throw new RangeError(`HpackDecoder: ${key} must be an integer in [0, 2^31 - 1]`)
      }
    }
    this.maxDynamicTableSize = options.maxDynamicTableSize
    this.maxHeaderListSize = options.maxHeaderListSize
    this.maxHeaderListPairs = options.maxHeaderListPairs
    this.table = new DynamicTable(options.maxDynamicTableSize)
  }

  /** The dynamic table's current size in RFC 7541 bytes (for tests and diagnostics). */
  get dynamicTableSize(): number {
    return this.table.size
  }

  /** The dynamic table's current bound, as set by the peer's last size update. */
  get dynamicTableMaxSize(): number {
    return this.table.maxSize
  }

  /** The dynamic table's entries, newest first, as flat name/value pairs (tests, diagnostics). */
  dynamicTableEntries(): string[] {
    const entries: string[] = []
    for (let i = 0; i < this.table.count; i++) {
      entries.push(this.table.nameAt(i), this.table.valueAt(i))
    }
    return entries
  }

  /**
   * Decodes one complete header block (HEADERS + CONTINUATION payloads concatenated), the bytes
   * `block[start..end)`, appending its fields to `out` as flat pairs
   * `[name0, value0, name1, value1, ...]`. Names and values are octets as latin1 strings, as
   * received: checking case, CR, LF and NUL is the caller's job.
   *
   * @throws HpackError `'compression'` (a connection error: the table is out of sync) when the
   *   block is malformed; `'header-list-too-large'` when the fields exceed the header list
   *   limits: the whole block was still decoded so the table stays in sync, `out` holds the
   *   fields before the limit, and the connection can go on with a stream error.
   */
  decode(block: Uint8Array, start: number, end: number, out: string[]): void {
    const source = Buffer.isBuffer(block)
      ? block
      : Buffer.from(block.buffer, block.byteOffset, block.byteLength)
    const table = this.table
    this.position = start
    let listSize = 0
    let pairs = 0
    let tooLarge = false
    let sawField = false
    let plain = 1
    while (this.position < end) {
      const first = source[this.position] as number
      let name: string
      let value: string
      if (first >= 0x80) {
        // §6.1 Indexed Header Field: 1xxxxxxx.
        const index = this.readInteger(source, end, 0x7f)
        if (index === 0) throw compressionError('index 0')
        if (index <= STATIC_TABLE_LENGTH) {
          name = STATIC_TABLE_NAMES[index - 1] as string
          value = STATIC_TABLE_VALUES[index - 1] as string
        } else {
          const dynamic = index - STATIC_TABLE_LENGTH - 1
          if (dynamic >= table.count) throw compressionError(`index ${index} out of range`)
          name = table.nameAt(dynamic)
          value = table.valueAt(dynamic)
          plain &= table.plainAt(dynamic)
        }
      } else if (first >= 0x40) {
        // §6.2.1 Literal Header Field with Incremental Indexing: 01xxxxxx.
        const index = this.readInteger(source, end, 0x3f)
        name = index === 0 ? this.readName(source, end) : this.nameAt(index)
        let fieldPlain = this.stringPlain ? 1 : 0
        value = this.readValue(source, end)
        if (!this.stringPlain) fieldPlain = 0
        plain &= fieldPlain
        table.add(name, value, fieldPlain)
      } else if (first >= 0x20) {
        // §6.3 Dynamic Table Size Update: 001xxxxx, only before the first field (§4.2).
        if (sawField) throw compressionError('table size update after a field')
        const size = this.readInteger(source, end, 0x1f)
        if (size > this.maxDynamicTableSize) {
          throw compressionError(`table size update ${size} above ${this.maxDynamicTableSize}`)
        }
        table.setMaxSize(size)
        continue
      } else {
        // §6.2.2 without indexing (0000xxxx), §6.2.3 never indexed (0001xxxx).
        const index = this.readInteger(source, end, 0x0f)
        name = index === 0 ? this.readName(source, end) : this.nameAt(index)
        if (!this.stringPlain) plain = 0
        value = this.readValue(source, end)
        if (!this.stringPlain) plain = 0
      }
      sawField = true
      if (tooLarge) continue
      // RFC 9113 §6.5.2: name + value + 32 per field.
      listSize += name.length + value.length + 32
      if (listSize > this.maxHeaderListSize || pairs >= this.maxHeaderListPairs) {
        tooLarge = true
        continue
      }
      out.push(name, value)
      pairs++
    }
    this.lastBlockNeedsFieldCheck = plain === 0
    if (tooLarge) {
      throw new HpackError(
        'header-list-too-large',
        `HPACK: header list above ${this.maxHeaderListSize} bytes or ${this.maxHeaderListPairs} fields`,
      )
    }
  }

  /** The name at HPACK `index` (static or dynamic) for a literal with an indexed name. */
  private nameAt(index: number): string {
    if (index <= STATIC_TABLE_LENGTH) {
      this.stringPlain = true
      return STATIC_TABLE_NAMES[index - 1] as string
    }
    const dynamic = index - STATIC_TABLE_LENGTH - 1
    if (dynamic >= this.table.count) throw compressionError(`index ${index} out of range`)
    // The entry's flag covers name and value; a plain entry has a plain name.
    this.stringPlain = this.table.plainAt(dynamic) === 1 || isPlainName(this.table.nameAt(dynamic))
    return this.table.nameAt(dynamic)
  }

  /** Reads a literal name and sets `stringPlain`. */
  private readName(source: Buffer, end: number): string {
    const start = this.readStringBytes(source, end)
    const bytes = this.stringBytes
    const stop = this.stringEnd
    // A pseudo-header's leading ':' is plain; anything else must be lowercase tchar.
    const from = start < stop && bytes[start] === 0x3a ? start + 1 : start
    let plain = stop > from
    for (let i = from; i < stop; i++) {
      if (((OCTET_CLASS[bytes[i] as number] as number) & NAME_PLAIN) === 0) {
        plain = false
        break
      }
    }
    this.stringPlain = plain
    return latin1(bytes, start, stop)
  }

  /** Reads a literal value and sets `stringPlain`. */
  private readValue(source: Buffer, end: number): string {
    const start = this.readStringBytes(source, end)
    const bytes = this.stringBytes
    const stop = this.stringEnd
    let plain = true
    if (stop > start) {
      const first = bytes[start] as number
      const last = bytes[stop - 1] as number
      plain = first !== 0x20 && first !== 0x09 && last !== 0x20 && last !== 0x09
      for (let i = start; plain && i < stop; i++) {
        if (((OCTET_CLASS[bytes[i] as number] as number) & VALUE_PLAIN) === 0) plain = false
      }
    }
    this.stringPlain = plain
    return latin1(bytes, start, stop)
  }

  /**
   * Reads an integer with an N-bit prefix (RFC 7541 §5.1) at the cursor; `prefixMask` is
   * 2^N - 1. Bounded: at most 5 continuation bytes, and the value at most 2^31 - 1.
   */
  private readInteger(source: Buffer, end: number, prefixMask: number): number {
    let position = this.position
    let value = (source[position++] as number) & prefixMask
    if (value < prefixMask) {
      this.position = position
      return value
    }
    let shift = 0
    for (;;) {
      if (position >= end) throw compressionError('truncated integer')
      const byte = source[position++] as number
      value += (byte & 0x7f) * (1 << shift)
      if (value > MAX_INTEGER) throw compressionError('integer overflow')
      if (byte < 0x80) break
      shift += 7
      if (shift > 28) throw compressionError('integer overflow')
    }
    this.position = position
    return value
  }

  /**
   * Reads a string literal (RFC 7541 §5.2) at the cursor, raw or Huffman-coded, leaving its
   * octets in `stringBytes[start..stringEnd)`.
   *
   * @returns `start`.
   */
  private readStringBytes(source: Buffer, end: number): number {
    if (this.position >= end) throw compressionError('truncated block')
    const isHuffman = (source[this.position] as number) >= 0x80
    const length = this.readInteger(source, end, 0x7f)
    const start = this.position
    if (length > end - start) throw compressionError('string longer than the block')
    this.position = start + length
    if (!isHuffman) {
      this.stringBytes = source
      this.stringEnd = start + length
      return start
    }
    const needed = huffmanMaxDecodedLength(length)
    let scratch = this.scratch
    if (needed > scratch.length) {
      scratch = Buffer.allocUnsafe(needed)
      if (needed <= KEPT_SCRATCH_BYTES) this.scratch = scratch
    }
    const decoded = huffmanDecode(source, start, start + length, scratch, 0)
    if (decoded < 0) throw compressionError('invalid Huffman code')
    this.stringBytes = scratch
    this.stringEnd = decoded
    return 0
  }
}

/**
 * `bytes[start..stop)` as a latin1 string. Short strings are built in JS: V8 keeps strings
 * under 13 characters flat, and this skips the native call that dominates their cost.
 */
function latin1(bytes: Buffer, start: number, stop: number): string {
  if (stop - start > SHORT_STRING) return bytes.toString('latin1', start, stop)
  let text = ''
  for (let i = start; i < stop; i++) text += String.fromCharCode(bytes[i] as number)
  return text
}

/** Whether a name is non-empty lowercase tchar, with an optional leading ':'. */
function isPlainName(name: string): boolean {
  const from = name.charCodeAt(0) === 0x3a ? 1 : 0
  if (name.length <= from) return false
  for (let i = from; i < name.length; i++) {
    const code = name.charCodeAt(i)
    if (code > 0xff || ((OCTET_CLASS[code] as number) & NAME_PLAIN) === 0) return false
  }
  return true
}

function compressionError(detail: string): HpackError {
  return new HpackError('compression', `HPACK: ${detail}`)
}
