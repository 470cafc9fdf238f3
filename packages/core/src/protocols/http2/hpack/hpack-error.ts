/**
 * Why an HPACK header block was refused.
 *
 * - `'compression'`: the block is malformed (bad index, integer overflow, bad Huffman code,
 *   misplaced or too large table size update, truncated string). The decoder's table may no
 *   longer match the peer's, so this is a connection error (RFC 9113 §4.3: COMPRESSION_ERROR).
 * - `'header-list-too-large'`: the block decoded but its fields exceed the header list size or
 *   count limit. The table is still in sync: the stream can be refused and the connection go on.
 */
export type HpackErrorKind = 'compression' | 'header-list-too-large'

/**
 * Thrown by the HPACK codec when a header block cannot be accepted; `kind` tells whether the
 * connection (`'compression'`) or only the stream (`'header-list-too-large'`) must end.
 */
export class HpackError extends Error {
  /** Which rule the block broke: decides between a connection and a stream error. */
  readonly kind: HpackErrorKind

  /** Creates an error of `kind`; `message` says what was wrong and where. */
  constructor(kind: HpackErrorKind, message: string) {
    super(message)
    this.name = 'HpackError'
    this.kind = kind
  }
}
