/**
 * The HPACK static table (RFC 7541 Appendix A): 61 fields every HTTP/2 peer knows by index.
 * Index 1 is `STATIC_TABLE_NAMES[0]`; the dynamic table starts at index 62.
 */

/** The number of entries in the static table; dynamic indexes start after it. */
export const STATIC_TABLE_LENGTH = 61

/** The names of the static table, index 1 first. */
export const STATIC_TABLE_NAMES: readonly string[] = [
  ':authority',
  ':method',
  ':method',
  ':path',
  ':path',
  ':scheme',
  ':scheme',
  ':status',
  ':status',
  ':status',
  ':status',
  ':status',
  ':status',
  ':status',
  'accept-charset',
  'accept-encoding',
  'accept-language',
  'accept-ranges',
  'accept',
  'access-control-allow-origin',
  'age',
  'allow',
  'authorization',
  'cache-control',
  'content-disposition',
  'content-encoding',
  'content-language',
  'content-length',
  'content-location',
  'content-range',
  'content-type',
  'cookie',
  'date',
  'etag',
  'expect',
  'expires',
  'from',
  'host',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'last-modified',
  'link',
  'location',
  'max-forwards',
  'proxy-authenticate',
  'proxy-authorization',
  'range',
  'referer',
  'refresh',
  'retry-after',
  'server',
  'set-cookie',
  'strict-transport-security',
  'transfer-encoding',
  'user-agent',
  'vary',
  'via',
  'www-authenticate',
]

/** The values of the static table, index 1 first (empty where the entry has only a name). */
export const STATIC_TABLE_VALUES: readonly string[] = [
  '',
  'GET',
  'POST',
  '/',
  '/index.html',
  'http',
  'https',
  '200',
  '204',
  '206',
  '304',
  '400',
  '404',
  '500',
  '',
  'gzip, deflate',
]
  // The 45 entries after `accept-encoding` have empty values.
  .concat(new Array<string>(STATIC_TABLE_LENGTH - 16).fill(''))

/**
 * What the encoder knows about one name of the static table: the lowest index with that name
 * and, when some entries also carry a value, the index of each name + value pair.
 */
export interface StaticNameEntry {
  /** The lowest index whose name matches (a literal can reference it). */
  readonly index: number
  /** Index of each full name + value match, `undefined` when no entry has a value. */
  readonly values: ReadonlyMap<string, number> | undefined
}

/** Name -> {@link StaticNameEntry}, for the encoder's static matches (one map lookup per field). */
export const STATIC_TABLE_BY_NAME: ReadonlyMap<string, StaticNameEntry> = buildIndex()

function buildIndex(): Map<string, StaticNameEntry> {
  const byName = new Map<string, { index: number; values: Map<string, number> | undefined }>()
  for (let i = 0; i < STATIC_TABLE_LENGTH; i++) {
    const name = STATIC_TABLE_NAMES[i] as string
    const value = STATIC_TABLE_VALUES[i] as string
    let entry = byName.get(name)
    if (entry === undefined) {
      entry = { index: i + 1, values: undefined }
      byName.set(name, entry)
    }
    if (value !== '') {
      entry.values ??= new Map()
      entry.values.set(value, i + 1)
    }
  }
  return byName
}
