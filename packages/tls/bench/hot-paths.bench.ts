// Per-connection work of the TLS helpers, measured in isolation: `npx vitest bench --run`.
import net from 'node:net'
import tls from 'node:tls'
import { certs, readCert } from '@pingora-ts/test-utils'
import { bench, describe } from 'vitest'
import { INCOMPLETE, parseClientHello } from '../src/client-hello.ts'
import { clientTlsOptions } from '../src/client-tls.ts'
import { TlsSettings } from '../src/tls-settings.ts'

/** One real ClientHello from node:tls, captured over loopback. */
async function captureHello(): Promise<Buffer> {
  return new Promise((resolve) => {
    const server = net.createServer((socket) => {
      const chunks: Buffer[] = []
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk)
        const data = Buffer.concat(chunks)
        if (parseClientHello(data) !== INCOMPLETE) {
          resolve(data)
          socket.destroy()
          server.close()
        }
      })
    })
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      const client = tls.connect({
        host: '127.0.0.1',
        port,
        servername: 'api.example.test',
        ALPNProtocols: ['h2', 'http/1.1'],
      })
      client.on('error', () => undefined)
    })
  })
}

const hello = await captureHello()
const settings = new TlsSettings({ cert: certs.localhost.cert, key: certs.localhost.key })
  .addCertificate('a.test', certs.aTest.cert, certs.aTest.key)
  .addCertificate('*.wild.test', certs.wildcard.cert, certs.wildcard.key)
  .build()
const ca = readCert('ca.pem')

describe('per connection', () => {
  bench(`parseClientHello (${hello.length} bytes)`, () => {
    parseClientHello(hello)
  })
  bench('contextFor exact name', () => {
    settings.contextFor('a.test')
  })
  bench('contextFor wildcard', () => {
    settings.contextFor('x.wild.test')
  })
  bench('contextFor unknown name (default)', () => {
    settings.contextFor('nothing.test')
  })
  bench('clientTlsOptions (cached context)', () => {
    clientTlsOptions({ sni: 'a.test', ca, alpn: ['h2', 'http/1.1'] })
  })
})
