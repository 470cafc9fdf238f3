/**
 * The header block examples of RFC 7541 Appendix C (C.3 to C.6): each series is decoded in
 * order on one connection, and the table after each block is given newest first.
 * Test data only (imported by the codec's tests).
 */

/** One block of a series: its bytes, the fields it carries and the table after it. */
export interface VectorBlock {
  /** The block in hex, spaces ignored. */
  readonly hex: string
  /** The decoded fields, flat name/value pairs. */
  readonly fields: readonly string[]
  /** The dynamic table after the block, newest first, flat pairs. */
  readonly table: readonly string[]
  /** The table size in RFC 7541 bytes after the block. */
  readonly size: number
}

/** One series of Appendix C: the table bound and the blocks in order. */
export interface VectorSeries {
  /** Section, e.g. `'C.3'`. */
  readonly section: string
  /** Whether the literals are Huffman-coded. */
  readonly huffman: boolean
  /** SETTINGS_HEADER_TABLE_SIZE of the series. */
  readonly tableSize: number
  /** The blocks, decoded in order. */
  readonly blocks: readonly VectorBlock[]
}

const REQUEST_1 = [
  ':method',
  'GET',
  ':scheme',
  'http',
  ':path',
  '/',
  ':authority',
  'www.example.com',
]
const REQUEST_2 = [...REQUEST_1, 'cache-control', 'no-cache']
const REQUEST_3 = [
  ':method',
  'GET',
  ':scheme',
  'https',
  ':path',
  '/index.html',
  ':authority',
  'www.example.com',
  'custom-key',
  'custom-value',
]
const REQUEST_TABLES = [
  [':authority', 'www.example.com'],
  ['cache-control', 'no-cache', ':authority', 'www.example.com'],
  ['custom-key', 'custom-value', 'cache-control', 'no-cache', ':authority', 'www.example.com'],
]

const DATE_1 = 'Mon, 21 Oct 2013 20:13:21 GMT'
const DATE_2 = 'Mon, 21 Oct 2013 20:13:22 GMT'
const LOCATION = 'https://www.example.com'
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'
const RESPONSE_1 = [
  ':status',
  '302',
  'cache-control',
  'private',
  'date',
  DATE_1,
  'location',
  LOCATION,
]
const RESPONSE_2 = [
  ':status',
  '307',
  'cache-control',
  'private',
  'date',
  DATE_1,
  'location',
  LOCATION,
]
const RESPONSE_3 = [
  ':status',
  '200',
  'cache-control',
  'private',
  'date',
  DATE_2,
  'location',
  LOCATION,
  'content-encoding',
  'gzip',
  'set-cookie',
  COOKIE,
]
const RESPONSE_TABLES = [
  ['location', LOCATION, 'date', DATE_1, 'cache-control', 'private', ':status', '302'],
  [':status', '307', 'location', LOCATION, 'date', DATE_1, 'cache-control', 'private'],
  ['set-cookie', COOKIE, 'content-encoding', 'gzip', 'date', DATE_2],
]

function requests(hex: readonly string[]): VectorBlock[] {
  const fields = [REQUEST_1, REQUEST_2, REQUEST_3]
  const sizes = [57, 110, 164]
  return hex.map((block, i) => ({
    hex: block,
    fields: fields[i] as string[],
    table: REQUEST_TABLES[i] as string[],
    size: sizes[i] as number,
  }))
}

function responses(hex: readonly string[]): VectorBlock[] {
  const fields = [RESPONSE_1, RESPONSE_2, RESPONSE_3]
  const sizes = [222, 222, 215]
  return hex.map((block, i) => ({
    hex: block,
    fields: fields[i] as string[],
    table: RESPONSE_TABLES[i] as string[],
    size: sizes[i] as number,
  }))
}

/** RFC 7541 C.3 to C.6. */
export const RFC7541_SERIES: readonly VectorSeries[] = [
  {
    section: 'C.3',
    huffman: false,
    tableSize: 4096,
    blocks: requests([
      '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '8286 84be 5808 6e6f 2d63 6163 6865',
      '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
    ]),
  },
  {
    section: 'C.4',
    huffman: true,
    tableSize: 4096,
    blocks: requests([
      '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
      '8286 84be 5886 a8eb 1064 9cbf',
      '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
    ]),
  },
  {
    section: 'C.5',
    huffman: false,
    tableSize: 256,
    blocks: responses([
      '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133' +
        '2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70' +
        '6c65 2e63 6f6d',
      '4803 3330 37c1 c0bf',
      '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d' +
        '54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049' +
        '5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e' +
        '3d31',
    ]),
  },
  {
    section: 'C.6',
    huffman: true,
    tableSize: 256,
    blocks: responses([
      '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6' +
        '2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
      '4883 640e ffc1 c0bf',
      '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab' +
        '77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f' +
        '9587 3160 65c0 03ed 4ee5 b106 3d50 07',
    ]),
  },
]

/** Parses hex with optional spaces into bytes. */
export function fromHex(hex: string): Buffer {
  return Buffer.from(hex.replaceAll(' ', ''), 'hex')
}
