import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { PingoraError } from '@pingora-ts/error'
import { RequestHeader, type ResponseHeader } from '@pingora-ts/http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Http1ClientSession } from '../../src/protocols/http1/client.ts'
import type { Stream } from '../../src/protocols/l4/stream.ts'
import { connectUpstream } from '../http1/helpers.ts'

/**
 * Interop of Http1ClientSession with a real nginx origin (issue 3, "core's client against
 * node:http and nginx"). Runs when an `nginx` binary is installed (`.ci/run` installs it) and is
 * skipped otherwise.
 */

function findNginx(): string | undefined {
  for (const candidate of [
    '/usr/sbin/nginx',
    '/usr/local/sbin/nginx',
    '/usr/local/nginx/sbin/nginx',
  ]) {
    if (existsSync(candidate)) return candidate
  }
  try {
    return execFileSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

const NGINX = findNginx()
const GZIP_TEXT = 'hello from nginx, compressed on the fly so that the length is unknown. '.repeat(
  20,
)
const BIG = randomBytes(1024 * 1024 + 17)

let dir = ''
let port = 0
let child: ChildProcess | undefined

async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port: p } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return p
}

function tryConnect(p: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(p, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** Resolves once nginx accepts connections; rejects if it exits first. */
async function waitUntilAccepting(p: number, proc: ChildProcess): Promise<void> {
  let exited = false
  proc.once('exit', () => {
    exited = true
  })
  for (let attempt = 0; attempt < 500; attempt++) {
    if (exited) break
    if (await tryConnect(p)) return
    // Readiness poll of an external process (no event to wait on): back off briefly.
    await new Promise<void>((resolve) => setTimeout(resolve, 20))
  }
  const log = await readFile(join(dir, 'error.log'), 'utf8').catch(() => '')
  throw new Error(`nginx did not start listening on ${p}: ${log}`)
}

function config(p: number): string {
  return `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:${p};
    root ${dir}/www;
    etag on;
    location = /hello { default_type text/plain; return 200 'hello'; }
    location = /nocontent { return 204; }
    location = /gzip {
      default_type text/plain;
      gzip on; gzip_min_length 0; gzip_types text/plain; gzip_http_version 1.0;
      return 200 '${GZIP_TEXT}';
    }
    location = /echo {
      proxy_pass http://127.0.0.1:${p}/echo-inner;
      proxy_pass_request_body off;
      proxy_set_header X-Body $request_body;
      proxy_set_header X-Length $content_length;
      proxy_set_header Content-Length '';
      proxy_set_header Transfer-Encoding '';
      proxy_set_header Expect '';
    }
    location = /echo-inner { default_type text/plain; return 200 'got:$http_x_body;cl=$http_x_length'; }
    location = /short { keepalive_timeout 1s; default_type text/plain; return 200 'short'; }
    location = /limited { keepalive_requests 2; default_type text/plain; return 200 'limited'; }
  }
}
`
}

beforeAll(async () => {
  if (NGINX === undefined) return
  dir = await mkdtemp(join(tmpdir(), 'pingora-nginx-'))
  await mkdir(join(dir, 'www', 'static'), { recursive: true })
  await writeFile(join(dir, 'www', 'static', 'big.bin'), BIG)
  port = await freePort()
  await writeFile(join(dir, 'nginx.conf'), config(port))
  const proc = spawn(
    NGINX,
    ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  )
  child = proc
  await waitUntilAccepting(port, proc)
}, 30_000)

afterAll(async () => {
  const proc = child
  if (proc !== undefined && proc.exitCode === null && proc.signalCode === null) {
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
    proc.kill('SIGTERM')
    await exited
  }
  if (dir !== '') await rm(dir, { recursive: true, force: true })
})

function connect(): Promise<Stream> {
  return connectUpstream(port)
}

function request(
  method: string,
  path: string,
  headers: Array<[string, string]> = [],
  version: 'HTTP/1.0' | 'HTTP/1.1' = 'HTTP/1.1',
): RequestHeader {
  const r = RequestHeader.build(method, path, { version })
  r.insertHeader('Host', 'origin.test')
  for (const [name, value] of headers) r.appendHeader(name, value)
  return r
}

async function readBody(session: Http1ClientSession): Promise<Buffer> {
  const parts: Buffer[] = []
  for (
    let chunk = await session.readResponseBody();
    chunk !== undefined;
    chunk = await session.readResponseBody()
  ) {
    parts.push(Buffer.from(chunk))
  }
  return Buffer.concat(parts)
}

interface Exchange {
  session: Http1ClientSession
  response: ResponseHeader
  body: Buffer
  reused: Stream | undefined
}

/** One request/response on `stream`, then the reuse decision. */
async function exchange(
  stream: Stream,
  req: RequestHeader,
  body?: Buffer[],
  reused = false,
): Promise<Exchange> {
  const session = new Http1ClientSession(stream, { reused, readTimeoutMs: 10_000 })
  await session.writeRequestHeader(req)
  for (const piece of body ?? []) await session.writeBody(piece)
  await session.finishBody()
  let response = await session.readResponseHeader()
  while (response.status < 200) response = await session.readResponseHeader()
  const data = await readBody(session)
  return { session, response, body: data, reused: session.reuse() }
}

function sha(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

describe.skipIf(NGINX === undefined)('Http1ClientSession against nginx', () => {
  it('reads Content-Length responses and reuses one connection for several requests', async () => {
    const stream = await connect()
    const first = await exchange(stream, request('GET', '/hello'))
    expect(first.response.status).toBe(200)
    expect(first.body.toString()).toBe('hello')
    expect(first.response.getHeader('content-length')).toBe('5')
    // Header names come back with nginx's own case.
    expect([...first.response.headers].map(([name]) => name)).toContain('Content-Length')
    expect(first.reused).toBe(stream)
    const second = await exchange(stream, request('GET', '/hello'), undefined, true)
    expect(second.body.toString()).toBe('hello')
    expect(second.reused).toBe(stream)
    // Both exchanges handed the same connection back for reuse.
    expect([first.reused, second.reused]).toEqual([stream, stream])
  })

  it('reads a 1 MiB static file byte for byte and stays reusable', async () => {
    const stream = await connect()
    const got = await exchange(stream, request('GET', '/static/big.bin'))
    expect(got.response.status).toBe(200)
    expect(got.response.getHeader('content-length')).toBe(String(BIG.length))
    expect(got.body.length).toBe(BIG.length)
    expect(sha(got.body)).toBe(sha(BIG))
    expect(got.reused).toBe(stream)
  })

  it('reads no body for HEAD and 304, and none for 204, keeping the connection', async () => {
    const stream = await connect()
    const head = await exchange(stream, request('HEAD', '/static/big.bin'))
    expect(head.response.status).toBe(200)
    expect(head.response.getHeader('content-length')).toBe(String(BIG.length))
    expect(head.body.length).toBe(0)
    expect(head.reused).toBe(stream)
    const etag = head.response.getHeader('etag') as string
    expect(etag).toMatch(/^"/)
    const notModified = await exchange(
      stream,
      request('GET', '/static/big.bin', [['If-None-Match', etag]]),
      undefined,
      true,
    )
    expect(notModified.response.status).toBe(304)
    expect(notModified.body.length).toBe(0)
    expect(notModified.reused).toBe(stream)
    const empty = await exchange(stream, request('GET', '/nocontent'), undefined, true)
    expect(empty.response.status).toBe(204)
    expect(empty.body.length).toBe(0)
    expect(empty.reused).toBe(stream)
    // The connection is still in sync: a final request gets its own answer.
    const last = await exchange(stream, request('GET', '/hello'), undefined, true)
    expect(last.body.toString()).toBe('hello')
  })

  it('reads a chunked response and reuses the connection after it', async () => {
    const stream = await connect()
    const got = await exchange(stream, request('GET', '/gzip', [['Accept-Encoding', 'gzip']]))
    expect(got.response.status).toBe(200)
    expect(got.response.getHeader('transfer-encoding')).toBe('chunked')
    expect(got.response.getHeader('content-length')).toBeUndefined()
    expect(gunzipSync(got.body).toString()).toBe(GZIP_TEXT)
    expect(got.reused).toBe(stream)
    const next = await exchange(stream, request('GET', '/hello'), undefined, true)
    expect(next.body.toString()).toBe('hello')
  })

  it('reads a close-delimited response to EOF (HTTP/1.0) and does not reuse it', async () => {
    const stream = await connect()
    const got = await exchange(
      stream,
      request('GET', '/gzip', [['Accept-Encoding', 'gzip']], 'HTTP/1.0'),
    )
    expect(got.response.status).toBe(200)
    expect(got.response.getHeader('content-length')).toBeUndefined()
    expect(got.response.getHeader('transfer-encoding')).toBeUndefined()
    expect(gunzipSync(got.body).toString()).toBe(GZIP_TEXT)
    expect(got.reused).toBeUndefined()
  })

  it('sends Content-Length and chunked request bodies that nginx decodes exactly', async () => {
    const stream = await connect()
    const fixed = await exchange(stream, request('POST', '/echo', [['Content-Length', '11']]), [
      Buffer.from('hello'),
      Buffer.from(' world'),
    ])
    expect(fixed.body.toString()).toBe('got:hello world;cl=11')
    expect(fixed.reused).toBe(stream)
    const chunked = await exchange(
      stream,
      request('POST', '/echo', [['Transfer-Encoding', 'chunked']]),
      [Buffer.from('chunk-one,'), Buffer.from('two,'), Buffer.from('three')],
      true,
    )
    // nginx sets $content_length to the decoded length once it has read a chunked body.
    expect(chunked.body.toString()).toBe('got:chunk-one,two,three;cl=19')
    expect(chunked.reused).toBe(stream)
  })

  it('gets 100 Continue from nginx before sending the body', async () => {
    const stream = await connect()
    const session = new Http1ClientSession(stream, { readTimeoutMs: 10_000 })
    await session.writeRequestHeader(
      request('POST', '/echo', [
        ['Content-Length', '4'],
        ['Expect', '100-continue'],
      ]),
    )
    const interim = await session.readResponseHeader()
    expect(interim.status).toBe(100)
    await session.writeBody(Buffer.from('data'))
    await session.finishBody()
    const final = await session.readResponseHeader()
    expect(final.status).toBe(200)
    expect((await readBody(session)).toString()).toBe('got:data;cl=4')
    expect(session.reuse()).toBe(stream)
  })

  it('does not reuse the connection once nginx says Connection: close', async () => {
    const stream = await connect()
    const first = await exchange(stream, request('GET', '/limited'))
    expect(first.response.getHeader('connection')).toBe('keep-alive')
    expect(first.reused).toBe(stream)
    const second = await exchange(stream, request('GET', '/limited'), undefined, true)
    expect(second.body.toString()).toBe('limited')
    expect(second.response.getHeader('connection')).toBe('close')
    expect(second.session.keepalive).toBe(false)
    expect(second.reused).toBeUndefined()
  })

  it('marks a request on a connection nginx closed while idle as retryable (reused-only)', async () => {
    const stream = await connect()
    const first = await exchange(stream, request('GET', '/short'))
    expect(first.body.toString()).toBe('short')
    expect(first.reused).toBe(stream)
    // nginx closes the idle connection after its 1 s keep-alive timeout (an event, not a sleep).
    await stream.waitForEnd()
    const session = new Http1ClientSession(stream, { reused: true })
    let error: unknown
    try {
      await session.writeRequestHeader(request('GET', '/hello'))
      await session.readResponseHeader()
    } catch (e) {
      error = e
    }
    expect(PingoraError.is(error)).toBe(true)
    const e = error as PingoraError
    expect(e.source).toBe('upstream')
    expect(e.retry).toBe('reused-only')
    expect(e.isRetryable(true)).toBe(true)
    // The same failure on a fresh connection would not be retried.
    expect(e.isRetryable(false)).toBe(false)
  })
})
