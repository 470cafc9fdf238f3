/**
 * The HPACK dynamic table (RFC 7541 §2.3.2, §4): a FIFO of fields bounded in bytes, where a
 * field costs `name.length + value.length + 32`.
 *
 * Entries live in a ring whose capacity is a power of two, large enough for the most entries
 * the byte bound allows (`maxSize / 32`), so inserting never allocates:
 *
 * ```
 *   slots:  [ . . o o o o n . ]      o = older entries, n = newest
 *                 ^first    ^first + count - 1
 *   HPACK index 62 = newest, 63 = the one before, ... (static table: 1..61)
 * ```
 */
export class DynamicTable {
  /** Names by ring slot. */
  protected readonly names: string[]
  /** Values by ring slot. */
  protected readonly values: string[]
  /** Per ring slot: 1 when the entry's octets need no check by the caller (see the decoder). */
  protected readonly plain: Uint8Array
  /** Ring capacity - 1 (capacity is a power of two). */
  protected readonly mask: number
  /** Ring slot of the oldest entry. */
  protected first = 0
  /** Entries in the table. */
  count = 0
  /** Current size in RFC 7541 bytes (sum of name + value + 32). */
  size = 0
  /** Current bound in bytes (the last size update, at most `capacity`). */
  maxSize: number
  /** Entries ever inserted: the newest entry's sequence number is `inserted - 1`. */
  protected inserted = 0

  /** Creates an empty table that can hold up to `capacity` bytes (also its initial bound). */
  constructor(capacity: number) {
    let slots = 1
    while (slots <= capacity / 32) slots *= 2
    this.names = new Array<string>(slots).fill('')
    this.values = new Array<string>(slots).fill('')
    this.plain = new Uint8Array(slots)
    this.mask = slots - 1
    this.maxSize = capacity
  }

  /** The name of the entry `index` places from the newest (0 = newest, `< count`). */
  nameAt(index: number): string {
    return this.names[(this.first + this.count - 1 - index) & this.mask] as string
  }

  /** The value of the entry `index` places from the newest (0 = newest, `< count`). */
  valueAt(index: number): string {
    return this.values[(this.first + this.count - 1 - index) & this.mask] as string
  }

  /** 1 when the entry `index` places from the newest was inserted as plain (see {@link add}). */
  plainAt(index: number): number {
    return this.plain[(this.first + this.count - 1 - index) & this.mask] as number
  }

  /**
   * Inserts a field as the newest entry, evicting the oldest ones to make room. A field larger
   * than the whole bound empties the table and is not inserted (RFC 7541 §4.4). `plain` (1 or
   * 0) is kept with the entry for the decoder's octet check.
   */
  add(name: string, value: string, plain = 0): void {
    const entrySize = name.length + value.length + 32
    if (entrySize > this.maxSize) {
      this.evictTo(0)
      return
    }
    this.evictTo(this.maxSize - entrySize)
    const slot = (this.first + this.count) & this.mask
    this.names[slot] = name
    this.values[slot] = value
    this.plain[slot] = plain
    this.count++
    this.size += entrySize
    this.inserted++
  }

  /** Applies a table size update: the new bound, evicting entries until they fit. */
  setMaxSize(maxSize: number): void {
    this.maxSize = maxSize
    this.evictTo(maxSize)
  }

  /** Evicts the oldest entries until the table holds at most `limit` bytes. */
  private evictTo(limit: number): void {
    while (this.size > limit) {
      const slot = this.first
      const name = this.names[slot] as string
      const value = this.values[slot] as string
      this.size -= name.length + value.length + 32
      this.evicted(name, value, this.inserted - this.count)
      this.names[slot] = ''
      this.values[slot] = ''
      this.first = (slot + 1) & this.mask
      this.count--
    }
  }

  /** Called for each evicted entry with its sequence number; the encoder's table overrides it. */
  protected evicted(_name: string, _value: string, _sequence: number): void {}
}
