import { HeaderMap, RequestHeader } from '@pingora-ts/http'
import { bench, describe } from 'vitest'
import {
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_HEADERS,
  DEFAULT_MAX_REQUEST_LINE_BYTES,
  findHeadEnd,
  ParsedRequestHead,
  parseRequestHead,
} from '../src/protocols/http1/parse.ts'

/**
 * Parsing a typical browser request head (~600 bytes, 12 fields): our strict byte-table parser
 * (find the end with indexOf, scan with char tables, decode latin1 once per name/value, build
 * the RequestHeader) against a naive split-based parser that validates nothing. Node's own
 * llhttp binding is not reachable from user land, so it is not in the comparison.
 */
const REQUEST = Buffer.from(
  'GET /assets/app.js?v=1234567890 HTTP/1.1\r\n' +
    'Host: www.example.com\r\n' +
    'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36\r\n' +
    'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n' +
    'Accept-Language: en-US,en;q=0.9\r\n' +
    'Accept-Encoding: gzip, deflate, br, zstd\r\n' +
    'Referer: https://www.example.com/index.html\r\n' +
    'Cookie: session=abcdef0123456789; theme=dark; consent=yes\r\n' +
    'Connection: keep-alive\r\n' +
    'Sec-Fetch-Dest: script\r\n' +
    'Sec-Fetch-Mode: no-cors\r\n' +
    'Sec-Fetch-Site: same-origin\r\n' +
    'Cache-Control: no-cache\r\n' +
    '\r\n',
  'latin1',
)

const LIMITS = {
  maxRequestLineBytes: DEFAULT_MAX_REQUEST_LINE_BYTES,
  maxHeaderBytes: DEFAULT_MAX_HEADER_BYTES,
  maxHeaders: DEFAULT_MAX_HEADERS,
}

let sink = 0

function strict(buf: Buffer): void {
  const end = findHeadEnd(buf, 0)
  const out = new ParsedRequestHead()
  if (parseRequestHead(buf, 0, end, LIMITS, out) !== 0) throw new Error('parse failed')
  const request = RequestHeader.fromRaw(
    out.method,
    out.target,
    out.version,
    HeaderMap.fromRaw(out.names, out.values),
  )
  sink += request.headers.size
}

function naive(buf: Buffer): void {
  const text = buf.toString('latin1')
  const end = text.indexOf('\r\n\r\n')
  const lines = text.slice(0, end).split('\r\n')
  const [method, target, version] = (lines[0] as string).split(' ')
  const names: string[] = []
  const values: string[] = []
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string
    const colon = line.indexOf(':')
    names.push(line.slice(0, colon))
    values.push(line.slice(colon + 1).trim())
  }
  sink +=
    names.length +
    values.length +
    (method?.length ?? 0) +
    (target?.length ?? 0) +
    (version?.length ?? 0)
}

describe('HTTP/1 request head parsing (typical 12-field request)', () => {
  bench('pingora-ts strict parser + RequestHeader', () => {
    strict(REQUEST)
  })
  bench('naive split parser (no validation)', () => {
    naive(REQUEST)
  })
})

export { sink }
