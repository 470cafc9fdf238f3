import { DynamicTable } from './dynamic-table.ts'
import { huffmanEncode, huffmanEncodedLength } from './huffman.ts'
import { STATIC_TABLE_BY_NAME, STATIC_TABLE_LENGTH } from './static-table.ts'

/** The protocol's initial SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §6.5.2): the peer's bound until it says otherwise. */
const DEFAULT_TABLE_SIZE = 4096

/** Scratch kept between blocks; a larger one (a huge field) is dropped after its block. */
const KEPT_SCRATCH_BYTES = 64 * 1024

/**
 * Fields never added to the dynamic table: their values change on nearly every message, so an
 * entry would only evict useful ones (the choice nghttp2 makes too).
 */
const NOT_INDEXED: ReadonlySet<string> = new Set([
  ':path',
  'age',
  'content-length',
  'etag',
  'if-modified-since',
  'if-none-match',
  'location',
])

/** Cookies shorter than this are sent never-indexed: short values are guessable (RFC 7541 §7.1.3). */
const SHORT_COOKIE = 20

/** Options of an {@link HpackEncoder}. */
export interface HpackEncoderOptions {
  /**
   * Our own bound on the dynamic table, in RFC 7541 bytes; the table uses
   * `min(this, the peer's SETTINGS_HEADER_TABLE_SIZE)`. @defaultValue `4096`
   */
  readonly maxDynamicTableSize?: number
}

/** What the encoder's table knows about one name: its newest entry and the newest entry of each value. */
interface NameEntry {
  /** Sequence number of the newest entry with this name. */
  sequence: number
  /** Value -> sequence number of the newest entry with this name and value. */
  readonly values: Map<string, number>
}

/** The dynamic table plus the maps the encoder searches (name, then value). */
class EncoderTable extends DynamicTable {
  readonly byName = new Map<string, NameEntry>()

  /** The HPACK index of the entry with sequence number `sequence` (still in the table). */
  indexOf(sequence: number): number {
    return STATIC_TABLE_LENGTH + this.inserted - sequence
  }

  /** Adds a field and records it in the search maps (unless it was too large to insert). */
  insert(name: string, value: string): void {
    const before = this.inserted
    this.add(name, value)
    if (this.inserted === before) return
    const sequence = before
    const entry = this.byName.get(name)
    if (entry === undefined) {
      this.byName.set(name, { sequence, values: new Map([[value, sequence]]) })
    } else {
      entry.sequence = sequence
      entry.values.set(value, sequence)
    }
  }

  protected override evicted(name: string, value: string, sequence: number): void {
    const entry = this.byName.get(name)
    if (entry === undefined) return
    if (entry.values.get(value) === sequence) entry.values.delete(value)
    // The evicted entry is the oldest; if it is also the newest with its name, it was the only one.
    if (entry.sequence === sequence) this.byName.delete(name)
  }
}

/**
 * Encodes the HPACK header blocks we send on one connection (RFC 7541), keeping the dynamic
 * table the peer's decoder mirrors. Blocks must be sent in the order they are encoded.
 *
 * Per field, in order of preference: a full match in the static or dynamic table (one indexed
 * byte); a never-indexed literal for credentials (`authorization`, `proxy-authorization`,
 * `set-cookie`, short `cookie` values: RFC 7541 §7.1.3); a literal added to the dynamic table;
 * a literal without indexing for values that change on every message (`:path`,
 * `content-length`, `etag`, ...) or entries over 3/4 of the table. Names are referenced by index
 * whenever either table has them, and strings are Huffman-coded only when that is shorter.
 */
export class HpackEncoder {
  private readonly table: EncoderTable
  /** Our own bound (the table never grows past it whatever the peer allows). */
  private readonly capacity: number
  /** Smallest bound to announce at the start of the next block, `-1` when none is due. */
  private pendingMinimum = -1
  /** Final bound to announce at the start of the next block, `-1` when none is due. */
  private pendingFinal = -1
  /** The bound the peer's decoder holds: 4096 until our first size update (RFC 9113 §6.5.2). */
  private announced = DEFAULT_TABLE_SIZE
  /** Output of the block being encoded, reused between blocks. */
  private scratch: Buffer = Buffer.allocUnsafe(1024)
  /** Write cursor in `scratch`. */
  private position = 0

  /** Creates an encoder with an empty dynamic table. @throws RangeError on a bad bound. */
  constructor(options?: HpackEncoderOptions) {
    const capacity = options?.maxDynamicTableSize ?? DEFAULT_TABLE_SIZE
    if (!Number.isSafeInteger(capacity) || capacity < 0 || capacity > 0x7fffffff) {
      throw new RangeError('HpackEncoder: maxDynamicTableSize must be an integer in [0, 2^31 - 1]')
    }
    this.capacity = capacity
    this.table = new EncoderTable(capacity)
    this.table.setMaxSize(Math.min(capacity, DEFAULT_TABLE_SIZE))
    // The peer's decoder starts at 4096: a smaller own bound must be announced (RFC 7541 §4.2).
    if (capacity < DEFAULT_TABLE_SIZE) {
      this.pendingMinimum = capacity
      this.pendingFinal = capacity
    }
  }

  /** The dynamic table's current size in RFC 7541 bytes (for tests and diagnostics). */
  get dynamicTableSize(): number {
    return this.table.size
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
   * Takes the peer's SETTINGS_HEADER_TABLE_SIZE. The table uses `min(size, our bound)` from the
   * next block on, which starts with the table size update(s) that announce it: the smallest
   * bound since the last block first when it went down and up again (RFC 7541 §4.2).
   */
  setPeerMaxTableSize(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > 0xffffffff) {
      throw new RangeError('HpackEncoder: the peer table size must be an integer in [0, 2^32 - 1]')
    }
    const bound = Math.min(size, this.capacity)
    if (this.pendingMinimum < 0 || bound < this.pendingMinimum) this.pendingMinimum = bound
    this.pendingFinal = bound
  }

  /**
   * Encodes flat pairs `[name0, value0, name1, value1, ...]` (names lowercase, pseudo-headers
   * first: the caller's job) into one header block, updating the dynamic table.
   *
   * @returns a new Buffer holding the block (the encoder's scratch is reused).
   * @throws TypeError when a name or value holds a character above U+00FF (not an octet).
   */
  encode(fields: readonly string[]): Buffer {
    this.position = 0
    if (this.pendingFinal >= 0) this.writeSizeUpdates()
    for (let i = 0; i + 1 < fields.length; i += 2) {
      this.encodeField(fields[i] as string, fields[i + 1] as string)
    }
    const block = Buffer.allocUnsafe(this.position)
    this.scratch.copy(block, 0, 0, this.position)
    if (this.scratch.length > KEPT_SCRATCH_BYTES) this.scratch = Buffer.allocUnsafe(1024)
    return block
  }

  private writeSizeUpdates(): void {
    this.reserve(12)
    if (this.pendingMinimum < this.announced) {
      this.writeInteger(0x20, 0x1f, this.pendingMinimum)
      this.announced = this.pendingMinimum
      this.table.setMaxSize(this.pendingMinimum)
    }
    if (this.pendingFinal !== this.announced) {
      this.writeInteger(0x20, 0x1f, this.pendingFinal)
      this.announced = this.pendingFinal
      this.table.setMaxSize(this.pendingFinal)
    }
    this.pendingMinimum = -1
    this.pendingFinal = -1
  }

  private encodeField(name: string, value: string): void {
    // Three integers of at most 6 bytes each, and both strings (Huffman is never longer).
    this.reserve(name.length + value.length + 18)
    const table = this.table
    const staticEntry = STATIC_TABLE_BY_NAME.get(name)
    if (staticEntry?.values !== undefined) {
      const index = staticEntry.values.get(value)
      if (index !== undefined) {
        this.writeInteger(0x80, 0x7f, index)
        return
      }
    }
    const dynamicEntry = table.byName.get(name)
    const nameIndex =
      staticEntry !== undefined
        ? staticEntry.index
        : dynamicEntry !== undefined
          ? table.indexOf(dynamicEntry.sequence)
          : 0
    if (isSensitive(name, value)) {
      // §6.2.3 Literal Header Field Never Indexed: 0001xxxx; intermediaries must keep it so.
      this.writeLiteral(0x10, 0x0f, nameIndex, name, value)
      return
    }
    if (dynamicEntry !== undefined) {
      const sequence = dynamicEntry.values.get(value)
      if (sequence !== undefined) {
        this.writeInteger(0x80, 0x7f, table.indexOf(sequence))
        return
      }
    }
    if (name.length + value.length + 32 <= (table.maxSize * 3) >> 2 && !NOT_INDEXED.has(name)) {
      // §6.2.1 Literal Header Field with Incremental Indexing: 01xxxxxx.
      this.writeLiteral(0x40, 0x3f, nameIndex, name, value)
      table.insert(name, value)
    } else {
      // §6.2.2 Literal Header Field without Indexing: 0000xxxx.
      this.writeLiteral(0x00, 0x0f, nameIndex, name, value)
    }
  }

  private writeLiteral(
    flags: number,
    prefixMask: number,
    nameIndex: number,
    name: string,
    value: string,
  ): void {
    this.writeInteger(flags, prefixMask, nameIndex)
    if (nameIndex === 0) this.writeString(name)
    this.writeString(value)
  }

  /** Writes an integer with an N-bit prefix (RFC 7541 §5.1); `prefixMask` is 2^N - 1. */
  private writeInteger(flags: number, prefixMask: number, value: number): void {
    const scratch = this.scratch
    let position = this.position
    if (value < prefixMask) {
      scratch[position++] = flags | value
    } else {
      scratch[position++] = flags | prefixMask
      let rest = value - prefixMask
      while (rest >= 0x80) {
        scratch[position++] = (rest & 0x7f) | 0x80
        rest >>>= 7
      }
      scratch[position++] = rest
    }
    this.position = position
  }

  /** Writes a string literal (RFC 7541 §5.2): Huffman-coded when that is shorter. */
  private writeString(value: string): void {
    const huffmanLength = huffmanEncodedLength(value)
    if (huffmanLength < 0) {
      throw new TypeError('HpackEncoder: header names and values must be octets (U+0000-U+00FF)')
    }
    if (huffmanLength < value.length) {
      this.writeInteger(0x80, 0x7f, huffmanLength)
      this.position = huffmanEncode(value, this.scratch, this.position)
      return
    }
    this.writeInteger(0x00, 0x7f, value.length)
    const scratch = this.scratch
    let position = this.position
    if (value.length > 32) {
      position += scratch.write(value, position, 'latin1')
    } else {
      for (let i = 0; i < value.length; i++) scratch[position++] = value.charCodeAt(i)
    }
    this.position = position
  }

  /** Makes room for `bytes` more bytes in the scratch, keeping what is written. */
  private reserve(bytes: number): void {
    const needed = this.position + bytes
    if (needed <= this.scratch.length) return
    const larger = Buffer.allocUnsafe(Math.max(needed, this.scratch.length * 2))
    this.scratch.copy(larger, 0, 0, this.position)
    this.scratch = larger
  }
}

/** Credentials sent as never-indexed literals (RFC 7541 §7.1.3). */
function isSensitive(name: string, value: string): boolean {
  switch (name) {
    case 'authorization':
    case 'proxy-authorization':
    case 'set-cookie':
      return true
    case 'cookie':
      return value.length < SHORT_COOKIE
    default:
      return false
  }
}
