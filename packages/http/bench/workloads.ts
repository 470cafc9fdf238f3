import { Buffer } from 'node:buffer'
import { HeaderMap } from '../src/header-map.ts'
import { RequestHeader } from '../src/request-header.ts'

/** A typical browser request: 15 headers. */
export const FIELDS: [string, string][] = [
  ['Host', 'www.example.com'],
  [
    'User-Agent',
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
  ],
  ['Accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'],
  ['Accept-Language', 'en-US,en;q=0.9'],
  ['Accept-Encoding', 'gzip, deflate, br, zstd'],
  ['Connection', 'keep-alive'],
  ['Referer', 'https://www.example.com/catalog/index.html'],
  ['Cookie', 'session=9f86d081884c7d659a2feaa0c55ad015; theme=dark; consent=yes'],
  ['Cache-Control', 'max-age=0'],
  ['Upgrade-Insecure-Requests', '1'],
  ['Sec-Fetch-Dest', 'document'],
  ['Sec-Fetch-Mode', 'navigate'],
  ['Sec-Fetch-Site', 'same-origin'],
  ['X-Forwarded-For', '203.0.113.7'],
  ['X-Request-Id', '3c8e6a4b-7f1d-4e2a-9b5c-0d1e2f3a4b5c'],
]
const PATH = '/catalog/item.html?id=1234&ref=home'
const LOOKUPS = ['host', 'content-length', 'connection', 'cookie']
const XFF = '203.0.113.7, 198.51.100.1'
const VIA = '1.1 pingora-ts'

// Parser output: names and values sliced out of one received buffer (non-internalized strings,
// as core's parser makes them); each iteration gets fresh arrays over the same strings.
const RAW = Buffer.from(FIELDS.map(([n, v]) => `${n}: ${v}\r\n`).join(''), 'latin1')
const PARSED_NAMES: string[] = []
const PARSED_VALUES: string[] = []
for (let offset = 0; offset < RAW.length; ) {
  const colon = RAW.indexOf(0x3a, offset)
  const end = RAW.indexOf(0x0d, colon)
  PARSED_NAMES.push(RAW.toString('latin1', offset, colon))
  PARSED_VALUES.push(RAW.toString('latin1', colon + 2, end))
  offset = end + 2
}
function parsedArrays(): [string[], string[]] {
  return [PARSED_NAMES.slice(), PARSED_VALUES.slice()]
}

// node:http's own checks (lib/_http_common.js), for the validated plain-object variant.
const TOKEN_RE = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/
const INVALID_VALUE_RE = /[^\t\x20-\x7e\x80-\xff]/

/** Defeats dead-code elimination. */
export let sink = 0

/** One benchmark workload: a label and the function run once per iteration. */
export interface Workload {
  name: string
  run: () => void
}

/** Build + 15 appends + 2 inserts + 4 lookups + serialize to a Buffer. */
export const BUILD: Workload[] = [
  {
    name: 'RequestHeader (ours, validated)',
    run() {
      const request = RequestHeader.build('GET', PATH)
      for (let i = 0; i < FIELDS.length; i++) {
        const field = FIELDS[i] as [string, string]
        request.appendHeader(field[0], field[1])
      }
      request.insertHeader('X-Forwarded-For', XFF)
      request.insertHeader('Via', VIA)
      for (let i = 0; i < LOOKUPS.length; i++) {
        if (request.getHeader(LOOKUPS[i] as string) !== undefined) sink++
      }
      sink += request.toH1Wire().length
    },
  },
  {
    name: 'RequestHeader.fromRaw (ours, fields not validated)',
    run() {
      const names: string[] = []
      const values: string[] = []
      for (let i = 0; i < FIELDS.length; i++) {
        const field = FIELDS[i] as [string, string]
        names.push(field[0])
        values.push(field[1])
      }
      const request = RequestHeader.fromRaw(
        'GET',
        PATH,
        'HTTP/1.1',
        HeaderMap.fromRaw(names, values),
      )
      request.insertHeader('X-Forwarded-For', XFF)
      request.insertHeader('Via', VIA)
      for (let i = 0; i < LOOKUPS.length; i++) {
        if (request.getHeader(LOOKUPS[i] as string) !== undefined) sink++
      }
      sink += request.toH1Wire().length
    },
  },
  {
    name: 'plain object, node:http-style (validated)',
    run() {
      // Keyed by lower-case name, keeping [name, values] as OutgoingMessage does.
      const headers: Record<string, [string, string[]]> = Object.create(null)
      const set = (name: string, value: string) => {
        if (!TOKEN_RE.test(name) || INVALID_VALUE_RE.test(value)) throw new Error('invalid')
        headers[name.toLowerCase()] = [name, [value]]
      }
      for (let i = 0; i < FIELDS.length; i++) {
        const [name, value] = FIELDS[i] as [string, string]
        if (!TOKEN_RE.test(name) || INVALID_VALUE_RE.test(value)) throw new Error('invalid')
        const key = name.toLowerCase()
        const entry = headers[key]
        if (entry === undefined) headers[key] = [name, [value]]
        else entry[1].push(value)
      }
      set('X-Forwarded-For', XFF)
      set('Via', VIA)
      for (let i = 0; i < LOOKUPS.length; i++) {
        if (headers[(LOOKUPS[i] as string).toLowerCase()] !== undefined) sink++
      }
      let out = `GET ${PATH} HTTP/1.1\r\n`
      for (const key in headers) {
        const [name, values] = headers[key] as [string, string[]]
        for (let j = 0; j < values.length; j++) out += `${name}: ${values[j]}\r\n`
      }
      sink += Buffer.from(`${out}\r\n`, 'latin1').length
    },
  },
  {
    name: 'plain object (no validation, case-sensitive, no repeats)',
    run() {
      const headers: Record<string, string> = {}
      for (let i = 0; i < FIELDS.length; i++) {
        const [name, value] = FIELDS[i] as [string, string]
        headers[name] = value
      }
      headers['X-Forwarded-For'] = XFF
      headers.Via = VIA
      // Case-sensitive keys: lookups must know the exact case.
      if (headers.Host !== undefined) sink++
      if (headers['Content-Length'] !== undefined) sink++
      if (headers.Connection !== undefined) sink++
      if (headers.Cookie !== undefined) sink++
      let out = `GET ${PATH} HTTP/1.1\r\n`
      for (const name in headers) out += `${name}: ${headers[name]}\r\n`
      sink += Buffer.from(`${out}\r\n`, 'latin1').length
    },
  },
  {
    name: 'WHATWG Headers (validated, loses case and order)',
    run() {
      const headers = new Headers()
      for (let i = 0; i < FIELDS.length; i++) {
        const field = FIELDS[i] as [string, string]
        headers.append(field[0], field[1])
      }
      headers.set('X-Forwarded-For', XFF)
      headers.set('Via', VIA)
      for (let i = 0; i < LOOKUPS.length; i++) {
        if (headers.get(LOOKUPS[i] as string) !== null) sink++
      }
      let out = `GET ${PATH} HTTP/1.1\r\n`
      for (const [name, value] of headers) out += `${name}: ${value}\r\n`
      sink += Buffer.from(`${out}\r\n`, 'latin1').length
    },
  },
]

/** Wrap a parser's name/value arrays + 4 lookups + serialize. */
export const PARSED: Workload[] = [
  {
    name: 'HeaderMap.fromRaw (ours)',
    run() {
      const [names, values] = parsedArrays()
      const request = RequestHeader.fromRaw(
        'GET',
        PATH,
        'HTTP/1.1',
        HeaderMap.fromRaw(names, values),
      )
      for (let i = 0; i < LOOKUPS.length; i++) {
        if (request.getHeader(LOOKUPS[i] as string) !== undefined) sink++
      }
      sink += request.toH1Wire().length
    },
  },
  {
    name: 'plain object keyed by lower-case name',
    run() {
      const [names, values] = parsedArrays()
      const headers: Record<string, [string, string]> = Object.create(null)
      for (let i = 0; i < names.length; i++) {
        const name = names[i] as string
        headers[name.toLowerCase()] = [name, values[i] as string]
      }
      for (let i = 0; i < LOOKUPS.length; i++) {
        if (headers[LOOKUPS[i] as string] !== undefined) sink++
      }
      let out = `GET ${PATH} HTTP/1.1\r\n`
      for (const key in headers) {
        const [name, value] = headers[key] as [string, string]
        out += `${name}: ${value}\r\n`
      }
      sink += Buffer.from(`${out}\r\n`, 'latin1').length
    },
  },
  {
    name: 'WHATWG Headers',
    run() {
      const [names, values] = parsedArrays()
      const headers = new Headers()
      for (let i = 0; i < names.length; i++) headers.append(names[i] as string, values[i] as string)
      for (let i = 0; i < LOOKUPS.length; i++) {
        if (headers.get(LOOKUPS[i] as string) !== null) sink++
      }
      let out = `GET ${PATH} HTTP/1.1\r\n`
      for (const [name, value] of headers) out += `${name}: ${value}\r\n`
      sink += Buffer.from(`${out}\r\n`, 'latin1').length
    },
  },
]

const H2_REQUEST = RequestHeader.build('GET', PATH)
for (const [name, value] of FIELDS) H2_REQUEST.appendHeader(name, value)

/** HTTP/2 conversion of the 15-header request. */
export const H2: Workload[] = [
  {
    name: 'toH2Headers (ours)',
    run() {
      sink += Object.keys(H2_REQUEST.toH2Headers()).length
    },
  },
]
