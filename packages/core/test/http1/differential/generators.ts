// fast-check generators of HTTP/1 requests and chunked bodies: mostly well-formed structure
// with edge-case bytes in every slot, so that both parsers get deep into the message.
import fc from 'fast-check'

const b = (s: string): Buffer => Buffer.from(s, 'latin1')

/** Bytes worth trying in any slot: controls, separators, obs-text, whitespace. */
const EDGE = [
  '\x00',
  '\t',
  '\n',
  '\r',
  ' ',
  '"',
  '#',
  '%',
  ',',
  ':',
  ';',
  '=',
  '\x7f',
  '\x80',
  '\xff',
  '\x0b',
  '\x0c',
]

function edgy(base: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: base },
    {
      weight: 1,
      arbitrary: fc.tuple(base, fc.constantFrom(...EDGE), fc.nat()).map(([s, e, at]) => {
        const i = s.length === 0 ? 0 : at % (s.length + 1)
        return s.slice(0, i) + e + s.slice(i)
      }),
    },
  )
}

const method = edgy(
  fc.constantFrom(
    'GET',
    'GET',
    'POST',
    'POST',
    'PUT',
    'HEAD',
    'DELETE',
    'OPTIONS',
    'PATCH',
    'get',
    'FOO',
  ),
)

const target = edgy(
  fc.constantFrom(
    '/',
    '/a',
    '/a/b?c=d&e=f',
    '/%20x',
    '/a;p=1',
    '*',
    'http://example.com/p',
    'http://example.com',
    '//x',
    'example.com:443',
    '/?q=' + 'a'.repeat(20),
    '/Ā',
  ),
)

const version = fc.oneof(
  { weight: 12, arbitrary: fc.constant('HTTP/1.1') },
  { weight: 3, arbitrary: fc.constant('HTTP/1.0') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'HTTP/2.0',
      'HTTP/1.2',
      'http/1.1',
      'HTTP/1.',
      'HTTP/11',
      'HTTP/1.1 ',
    ),
  },
)

const name = edgy(
  fc.constantFrom(
    'Host',
    'X-A',
    'x-b',
    'Accept',
    'Cookie',
    'Connection',
    'Upgrade',
    'Expect',
    'Content-Length',
    'Transfer-Encoding',
    'Keep-Alive',
    'X_Under',
    'X-Very-Long-Name-' + 'n'.repeat(30),
  ),
)

const value = edgy(
  fc.constantFrom(
    '',
    'v',
    'a b',
    ' padded ',
    'keep-alive',
    'close',
    'chunked',
    'gzip, chunked',
    'chunked, gzip',
    'identity',
    '0',
    '5',
    '05',
    '5, 5',
    '5,6',
    '-1',
    '+5',
    'example.com',
    'example.com:8080',
    '100-continue',
    'websocket',
    'x'.repeat(60),
  ),
)

/** One header field line, sometimes with odd separators or line ends. */
const field = fc
  .record({
    name,
    value,
    colon: fc.constantFrom(': ', ': ', ':', ' : ', ':\t', ':  '),
    end: fc.oneof(
      { weight: 20, arbitrary: fc.constant('\r\n') },
      { weight: 1, arbitrary: fc.constantFrom('\n', '\r', '\r\r\n') },
    ),
    fold: fc.oneof(
      { weight: 30, arbitrary: fc.constant('') },
      { weight: 1, arbitrary: fc.constant('\r\n folded') },
    ),
  })
  .map((f) => `${f.name}${f.colon}${f.value}${f.fold}${f.end}`)

/** A chunked body: chunks with sizes, extensions and odd line ends, a last chunk, trailers. */
export const chunkedBody: fc.Arbitrary<Buffer> = fc
  .record({
    chunks: fc.array(
      fc.record({
        data: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('x'.repeat(300))),
        sizeDelta: fc.oneof(
          { weight: 12, arbitrary: fc.constant(0) },
          { weight: 1, arbitrary: fc.integer({ min: -2, max: 2 }) },
        ),
        upper: fc.boolean(),
        zeros: fc.oneof(
          { weight: 8, arbitrary: fc.constant('') },
          { weight: 1, arbitrary: fc.constantFrom('0', '00', '0'.repeat(20)) },
        ),
        ext: fc.oneof(
          { weight: 6, arbitrary: fc.constant('') },
          {
            weight: 1,
            arbitrary: edgy(fc.constantFrom(';a', ';a=b', ';a="q"', ' ;a', ';', ';a=b;c', '\t;x')),
          },
        ),
        sizeEnd: fc.oneof(
          { weight: 12, arbitrary: fc.constant('\r\n') },
          { weight: 1, arbitrary: fc.constantFrom('\n', ' \r\n', '\r', 'x\r\n') },
        ),
        dataEnd: fc.oneof(
          { weight: 12, arbitrary: fc.constant('\r\n') },
          { weight: 1, arbitrary: fc.constantFrom('\n', '', 'XX', '\r') },
        ),
      }),
      { maxLength: 4 },
    ),
    lastExt: fc.oneof(
      { weight: 6, arbitrary: fc.constant('') },
      { weight: 1, arbitrary: fc.constantFrom(';e=1', ' ', ';\x01') },
    ),
    trailers: fc.oneof(
      { weight: 5, arbitrary: fc.constant('') },
      { weight: 1, arbitrary: fc.array(field, { maxLength: 2 }).map((fields) => fields.join('')) },
    ),
    end: fc.oneof(
      { weight: 12, arbitrary: fc.constant('\r\n') },
      { weight: 1, arbitrary: fc.constantFrom('\n', '', '\r') },
    ),
    lastSize: fc.oneof(
      { weight: 12, arbitrary: fc.constant('0') },
      { weight: 1, arbitrary: fc.constantFrom('00', '000', '0x0', '') },
    ),
  })
  .map((c) => {
    let out = ''
    for (const chunk of c.chunks) {
      const data = Buffer.from(chunk.data, 'utf8').toString('latin1')
      const size = Math.max(0, data.length + chunk.sizeDelta)
      let hex = size.toString(16)
      if (chunk.upper) hex = hex.toUpperCase()
      out += `${chunk.zeros}${hex}${chunk.ext}${chunk.sizeEnd}${data}${chunk.dataEnd}`
    }
    out += `${c.lastSize}${c.lastExt}\r\n${c.trailers}${c.end}`
    return b(out)
  })

/** How the body is framed. */
const framing = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'none' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('length' as const),
      body: fc.string({ maxLength: 20 }),
      delta: fc.oneof(
        { weight: 8, arbitrary: fc.constant(0) },
        { weight: 1, arbitrary: fc.integer({ min: -3, max: 3 }) },
      ),
      header: fc.constantFrom('Content-Length', 'content-length', 'CONTENT-LENGTH'),
      form: fc.constantFrom('n', 'n', 'n', 'n, n', ' n', '0n', 'n,m'),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('chunked' as const),
      body: chunkedBody,
      te: fc.oneof(
        { weight: 8, arbitrary: fc.constant('chunked') },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            'Chunked',
            'gzip, chunked',
            'chunked, chunked',
            'chunked, gzip',
            'chunked ',
            'identity',
            ' chunked',
          ),
        },
      ),
      alsoLength: fc.oneof(
        { weight: 8, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
    }),
  },
)

/** A generated request and the deliberate differences (see compare.ts) its features touch. */
export interface GeneratedRequest {
  bytes: Buffer
  /** Features where we are stricter than llhttp (we may reject what it accepts). */
  stricter: Set<string>
  /** Features where we are more lenient than llhttp (we may accept what it rejects). */
  lenient: Set<string>
}

const STANDARD_METHODS = new Set(['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH'])

/** One request: start line, header fields, framing, body. */
export const request: fc.Arbitrary<GeneratedRequest> = fc
  .record({
    method,
    target,
    version,
    lineSpace: fc.oneof(
      { weight: 20, arbitrary: fc.constant(' ') },
      { weight: 1, arbitrary: fc.constantFrom('  ', '\t') },
    ),
    host: fc.oneof(
      { weight: 10, arbitrary: fc.constant('Host: example.com\r\n') },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          '',
          'Host: a\r\nHost: b\r\n',
          'Host: a b\r\n',
          'Host:\r\n',
          'host: EXAMPLE.com:80\r\n',
        ),
      },
    ),
    fields: fc.array(field, { maxLength: 4 }),
    framing,
    close: fc.oneof(
      { weight: 6, arbitrary: fc.constant('') },
      { weight: 1, arbitrary: fc.constant('Connection: close\r\n') },
    ),
    leading: fc.oneof(
      { weight: 20, arbitrary: fc.constant('') },
      { weight: 1, arbitrary: fc.constantFrom('\r\n', '\r\n\r\n', '\n') },
    ),
  })
  .map((r) => {
    const stricter = new Set<string>()
    const lenient = new Set<string>()
    if (!STANDARD_METHODS.has(r.method)) lenient.add('extension-method')
    if (r.lineSpace !== ' ' || r.leading === '\n') stricter.add('request-line')
    if (r.version !== 'HTTP/1.1' && r.version !== 'HTTP/1.0') {
      stricter.add('version')
      lenient.add('version')
    }
    const originForm = r.target.startsWith('/') || (r.target === '*' && r.method === 'OPTIONS')
    if (!originForm) stricter.add('target-form')
    if (/[^\x21-\x7e]/.test(r.target)) stricter.add('target-bytes')
    const hostValues = [r.host, ...r.fields].filter((f) => /^host\s*:/i.test(f))
    if (r.host !== 'Host: example.com\r\n' || hostValues.length !== 1) stricter.add('host')
    let head = `${r.leading}${r.method}${r.lineSpace}${r.target}${r.lineSpace}${r.version}\r\n${r.host}${r.fields.join('')}${r.close}`
    if (/[^\r]\n|\r[^\n]/.test(r.fields.join(''))) stricter.add('line-ending')
    if (/\r\n[ \t]/.test(r.fields.join(''))) stricter.add('obs-fold')
    if (r.fields.some((f) => /^(content-length|transfer-encoding)\s*:/i.test(f))) {
      stricter.add('framing-fields')
      lenient.add('framing-fields')
    }
    let body = b('')
    const f = r.framing
    if (f.kind === 'length') {
      const data = Buffer.from(f.body, 'utf8')
      const n = String(Math.max(0, data.length + f.delta))
      if (f.form === 'n, n') lenient.add('content-length-list')
      head += `${f.header}: ${f.form.replace(/n/g, n).replace('m', String(Number(n) + 1))}\r\n`
      body = data
    } else if (f.kind === 'chunked') {
      head += `Transfer-Encoding: ${f.te}\r\n`
      if (r.version === 'HTTP/1.0') stricter.add('te-http10')
      if (f.te.trim().toLowerCase() !== 'chunked') stricter.add('te-coding')
      if (f.alsoLength) lenient.add('te-with-length')
      body = f.body
    }
    return { bytes: Buffer.concat([b(`${head}\r\n`), body]), stricter, lenient }
  })

/** One to three pipelined requests. */
export const pipeline: fc.Arbitrary<GeneratedRequest[]> = fc.array(request, {
  minLength: 1,
  maxLength: 3,
})

/** The bytes of pipelined requests. */
export function bytesOf(requests: readonly GeneratedRequest[]): Buffer {
  return Buffer.concat(requests.map((r) => r.bytes))
}

/**
 * Cuts `input` into pieces at the given offsets (taken modulo its length).
 * @param input - the bytes
 * @param cuts - where to cut
 */
export function splitAt(input: Buffer, cuts: readonly number[]): Buffer[] {
  if (input.length === 0) return [input]
  const points = [...new Set(cuts.map((c) => c % input.length))]
    .filter((c) => c > 0)
    .sort((x, y) => x - y)
  const pieces: Buffer[] = []
  let from = 0
  for (const p of points) {
    pieces.push(input.subarray(from, p))
    from = p
  }
  pieces.push(input.subarray(from))
  return pieces
}

/** `input` one byte per piece: every byte boundary is a read boundary. */
export function bytewise(input: Buffer): Buffer[] {
  const pieces: Buffer[] = []
  for (let i = 0; i < input.length; i++) pieces.push(input.subarray(i, i + 1))
  return pieces
}

const status = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.constantFrom('200', '200', '201', '206', '301', '404', '500', '204', '304'),
  },
  { weight: 2, arbitrary: fc.constantFrom('100', '103', '199') },
  { weight: 1, arbitrary: fc.constantFrom('2000', '20', 'abc', '099', '600', ' 200', '2 0') },
)

const reason = edgy(fc.constantFrom(' OK', ' OK', ' Not Found', '', ' ', ' a  b', ' \t'))

/** How a response body is framed: Content-Length, chunked, until close, or not at all. */
const responseFraming = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: 'none' as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('length' as const),
      body: fc.string({ maxLength: 20 }),
      delta: fc.oneof(
        { weight: 8, arbitrary: fc.constant(0) },
        { weight: 1, arbitrary: fc.integer({ min: -3, max: 3 }) },
      ),
      form: fc.constantFrom('n', 'n', 'n', 'n, n', ' n', '0n', 'n,m', 'n '),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('chunked' as const),
      body: chunkedBody,
      te: fc.oneof(
        { weight: 8, arbitrary: fc.constant('chunked') },
        {
          weight: 1,
          arbitrary: fc.constantFrom('Chunked', 'gzip, chunked', 'chunked, gzip', 'identity'),
        },
      ),
      alsoLength: fc.oneof(
        { weight: 8, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('close' as const),
      body: fc.string({ maxLength: 20 }),
    }),
  },
)

/** One response: status line, header fields, framing, body. */
const response: fc.Arbitrary<string> = fc
  .record({
    version: fc.oneof(
      { weight: 12, arbitrary: fc.constant('HTTP/1.1') },
      { weight: 3, arbitrary: fc.constant('HTTP/1.0') },
      { weight: 1, arbitrary: fc.constantFrom('HTTP/2.0', 'HTTP/1.2', 'http/1.1', 'HTTP/1.') },
    ),
    status,
    reason,
    fields: fc.array(field, { maxLength: 4 }),
    framing: responseFraming,
    connection: fc.oneof(
      { weight: 6, arbitrary: fc.constant('') },
      {
        weight: 1,
        arbitrary: fc.constantFrom('Connection: close\r\n', 'Connection: keep-alive\r\n'),
      },
    ),
  })
  .map((r) => {
    let head = `${r.version} ${r.status}${r.reason}\r\n${r.fields.join('')}${r.connection}`
    let body = ''
    const f = r.framing
    if (f.kind === 'length') {
      const data = Buffer.from(f.body, 'utf8').toString('latin1')
      const n = String(Math.max(0, data.length + f.delta))
      head += `Content-Length: ${f.form.replace(/n/g, n).replace('m', String(Number(n) + 1))}\r\n`
      body = data
    } else if (f.kind === 'chunked') {
      head += `Transfer-Encoding: ${f.te}\r\n`
      if (f.alsoLength) head += 'Content-Length: 3\r\n'
      body = f.body.toString('latin1')
    } else if (f.kind === 'close') {
      body = Buffer.from(f.body, 'utf8').toString('latin1')
    }
    return `${head}\r\n${body}`
  })

/** Requests sent on one connection and the bytes that came back. */
export interface ResponseExchange {
  /** The request methods, in order (one final response each). */
  methods: string[]
  /** The responses, 1xx included, as they arrived. */
  responses: string[]
  /** Whether the origin closed the connection after the last byte. */
  eof: boolean
}

/** One to three requests and their responses (each final response may follow 1xx ones). */
export const responseExchange: fc.Arbitrary<ResponseExchange> = fc
  .record({
    methods: fc.array(fc.constantFrom('GET', 'GET', 'POST', 'HEAD'), {
      minLength: 1,
      maxLength: 3,
    }),
    responses: fc.array(response, { minLength: 1, maxLength: 4 }),
    eof: fc.boolean(),
  })
  .map((e) => ({ ...e }))

/** The bytes of an exchange's responses. */
export function responseBytes(exchange: ResponseExchange): Buffer {
  return b(exchange.responses.join(''))
}
