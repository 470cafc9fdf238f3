import net from 'node:net'
import tls from 'node:tls'
import { readCert, startRawServer } from '@pingora-ts/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { INCOMPLETE, parseClientHello, readClientHello } from './client-hello.ts'

/** Captures the first flight a real node:tls client sends. */
async function captureHello(options: tls.ConnectionOptions): Promise<Buffer> {
  let resolveBytes: (data: Buffer) => void = () => undefined
  const bytes = new Promise<Buffer>((resolve) => {
    resolveBytes = resolve
  })
  const raw = await startRawServer((socket) => {
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      const data = Buffer.concat(chunks)
      if (parseClientHello(data) !== INCOMPLETE) {
        resolveBytes(data)
        socket.destroy()
      }
    })
  })
  onTestFinished(raw.close)
  const client = tls.connect({ host: '127.0.0.1', port: raw.port, ...options })
  client.on('error', () => undefined)
  onTestFinished(() => {
    client.destroy()
  })
  return bytes
}

/** Re-frames a single-record ClientHello as two records split at `at` bytes of the message. */
function splitRecords(data: Buffer, at: number): Buffer {
  const message = data.subarray(5)
  const record = (part: Buffer) =>
    Buffer.concat([Buffer.from([0x16, 0x03, 0x01, part.length >> 8, part.length & 0xff]), part])
  return Buffer.concat([record(message.subarray(0, at)), record(message.subarray(at))])
}

describe('parseClientHello', () => {
  it('reads the SNI and ALPN of a real ClientHello', async () => {
    const data = await captureHello({
      servername: 'API.Example.test',
      ALPNProtocols: ['h2', 'http/1.1'],
    })
    expect(parseClientHello(data)).toEqual({
      servername: 'api.example.test',
      alpn: ['h2', 'http/1.1'],
    })
  })

  it('reports no SNI and no ALPN when the client sends none', async () => {
    const data = await captureHello({})
    expect(parseClientHello(data)).toEqual({ servername: undefined, alpn: [] })
  })

  it('asks for more bytes for every strict prefix', async () => {
    const data = await captureHello({ servername: 'a.test' })
    for (const size of [0, 1, 4, 5, 9, 43, data.length - 1]) {
      expect(parseClientHello(data.subarray(0, size))).toBe(INCOMPLETE)
    }
  })

  it('joins a ClientHello split over several records', async () => {
    const data = await captureHello({ servername: 'split.test', ALPNProtocols: ['h2'] })
    const split = splitRecords(data, 2)
    expect(parseClientHello(split)).toEqual({ servername: 'split.test', alpn: ['h2'] })
    expect(parseClientHello(split.subarray(0, 12))).toBe(INCOMPLETE)
  })

  it.each([
    ['TLSv1.3', 'TLSv1.3'],
    ['TLSv1.2', 'TLSv1.2'],
  ] as const)('finds the %s session ticket a resuming client offers', async (_name, maxVersion) => {
    const ticketKeys = Buffer.alloc(48, 7)
    const server = tls.createServer(
      { cert: readCert('localhost.pem'), key: readCert('localhost.key'), ticketKeys },
      (socket) => socket.end('x'),
    )
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => {
      server.close()
    })
    const { port } = server.address() as net.AddressInfo
    const session = await new Promise<Buffer>((resolve, reject) => {
      const client = tls.connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        rejectUnauthorized: false,
        maxVersion,
      })
      client.once('session', (s: Buffer) => resolve(s))
      client.on('error', reject)
      client.resume()
    })
    const data = await captureHello({ servername: 'localhost', session, maxVersion })
    const hello = parseClientHello(data)
    if (hello === undefined || hello === INCOMPLETE) throw new Error('not parsed')
    expect(Buffer.from(hello.ticket?.subarray(0, 16) ?? [])).toEqual(ticketKeys.subarray(0, 16))
    const fresh = parseClientHello(await captureHello({ servername: 'localhost' }))
    expect(fresh !== INCOMPLETE && fresh?.ticket).toBeUndefined()
  })

  it('rejects bytes that are not a ClientHello', () => {
    expect(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toBeUndefined()
    expect(
      parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0, 0, 0])),
    ).toBeUndefined()
    expect(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00]))).toBeUndefined()
  })
})

describe('parseClientHello on corrupted input', () => {
  it('never throws on mutated or truncated ClientHellos', async () => {
    const data = await captureHello({ servername: 'fuzz.test', ALPNProtocols: ['h2', 'http/1.1'] })
    // Seeded xorshift: the same mutations on every run.
    let seed = 0x2545f491
    const random = (n: number) => {
      seed ^= seed << 13
      seed ^= seed >>> 17
      seed ^= seed << 5
      return (seed >>> 0) % n
    }
    const outcomes = new Set<string>()
    for (let round = 0; round < 2000; round++) {
      const copy = Buffer.from(data.subarray(0, 1 + random(data.length)))
      for (let flips = random(4); flips >= 0; flips--) copy[random(copy.length)] = random(256)
      const result = parseClientHello(copy)
      outcomes.add(result === undefined ? 'none' : result === INCOMPLETE ? 'incomplete' : 'parsed')
    }
    expect(outcomes).toEqual(new Set(['none', 'incomplete', 'parsed']))
  })
})

describe('readClientHello', () => {
  it('reads the ClientHello and leaves every byte for the TLS socket', async () => {
    const seen: Array<string | undefined> = []
    const raw = await startRawServer((socket: net.Socket) => {
      readClientHello(socket).then(
        (hello) => {
          seen.push(hello?.servername)
          const secure = new tls.TLSSocket(socket, {
            isServer: true,
            secureContext: tls.createSecureContext({
              cert: readCert('localhost.pem'),
              key: readCert('localhost.key'),
            }),
          })
          secure.on('error', () => undefined)
          secure.end('ok')
        },
        () => socket.destroy(),
      )
    })
    onTestFinished(raw.close)
    const text = await new Promise<string>((resolve, reject) => {
      const client = tls.connect({
        host: '127.0.0.1',
        port: raw.port,
        servername: 'localhost',
        rejectUnauthorized: false,
      })
      let body = ''
      client.setEncoding('utf8')
      client.on('data', (chunk: string) => {
        body += chunk
      })
      client.on('end', () => resolve(body))
      client.on('error', reject)
    })
    expect(text).toBe('ok')
    expect(seen).toEqual(['localhost'])
  })

  it('resolves undefined when the socket ends before a ClientHello', async () => {
    const results: unknown[] = []
    const done = new Promise<void>((resolve) => {
      void startRawServer((socket: net.Socket) => {
        readClientHello(socket).then((hello) => {
          results.push(hello)
          socket.destroy()
          resolve()
        }, resolve)
      }).then((raw) => {
        onTestFinished(raw.close)
        net.connect(raw.port, raw.host).end(Buffer.from([0x16, 0x03]))
      })
    })
    await done
    expect(results).toEqual([undefined])
  })
})
