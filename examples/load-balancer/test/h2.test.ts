// The demo's HTTP/2 flags: --h2c (prior knowledge beside HTTP/1.1), --tls-cert/--tls-key (ALPN
// h2 and http/1.1), --upstream-h2 (h2c to the embedded origins), and SIGTERM: a graceful
// shutdown that sends GOAWAY to HTTP/2 clients and exits 0.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import http2 from 'node:http2'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { certs } from '@pingora-ts/test-utils'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../..', import.meta.url))
const main = fileURLToPath(new URL('../src/main.ts', import.meta.url))
const tsx = `${root}node_modules/.bin/tsx`

const children: ChildProcess[] = []
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT')
      await once(child, 'exit')
    }
  }
})

async function startExample(args: string[]): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(tsx, ['--conditions=@pingora-ts/source', main, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.push(child)
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  for await (const line of lines) {
    const m = /listening on https?:\/\/(\S+)/.exec(line)
    if (m) return { child, address: m[1] as string }
  }
  throw new Error('the example exited before listening')
}

function get(
  client: http2.ClientHttp2Session,
  path: string,
): Promise<{ status: number; origin: string; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = client.request({ ':path': path }, { endStream: true })
    let status = 0
    let origin = ''
    let body = ''
    stream.setEncoding('utf8')
    stream.on('response', (h) => {
      status = Number(h[':status'])
      origin = String(h['x-origin'])
    })
    stream.on('data', (d: string) => {
      body += d
    })
    stream.on('end', () => resolve({ status, origin, body }))
    stream.on('error', reject)
  })
}

describe('examples/load-balancer over HTTP/2', () => {
  it.each(['node', 'native'])(
    '--h2c --upstream-h2 --h2-engine %s: h2 in, h2c out to the embedded origins; SIGTERM sends GOAWAY',
    async (engine) => {
      const { child, address } = await startExample([
        '--listen',
        '127.0.0.1:0',
        '--h2c',
        '--upstream-h2',
        '--h2-engine',
        engine,
      ])
      // HTTP/1.1 still works on the same port.
      const h1 = await request(`http://${address}/one`)
      expect(h1.statusCode).toBe(200)
      expect(await h1.body.text()).toMatch(/^hello from origin-[12] \(GET \/one, h2\)\n$/)

      const client = http2.connect(`http://${address}`)
      client.on('error', () => {})
      const a = await get(client, '/a')
      const b = await get(client, '/b')
      expect(a.status).toBe(200)
      expect(a.body).toMatch(/\(GET \/a, h2\)/)
      expect(new Set([a.origin, b.origin])).toEqual(new Set(['origin-1', 'origin-2']))

      const goaway = once(client, 'goaway')
      child.kill('SIGTERM')
      await goaway
      // In-flight nothing: the connection closes after the second GOAWAY, and the process exits.
      const [code] = await once(child, 'exit')
      expect(code).toBe(0)
      client.destroy()
    },
  )

  it('--tls-cert/--tls-key: ALPN h2 for HTTP/2 clients, http/1.1 for the others', async () => {
    const { address } = await startExample([
      '--listen',
      '127.0.0.1:0',
      '--tls-cert',
      certs.localhost.cert,
      '--tls-key',
      certs.localhost.key,
    ])
    const client = http2.connect(`https://localhost:${address.split(':').at(-1)}`, {
      ca: readFileSync(certs.ca),
    })
    client.on('error', () => {})
    const r = await get(client, '/secure')
    expect(r.status).toBe(200)
    expect(r.body).toMatch(/^hello from origin-[12] \(GET \/secure\)\n$/)
    expect(client.alpnProtocol).toBe('h2')
    client.destroy()
  })
})
