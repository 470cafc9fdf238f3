import diagnosticsChannel from 'node:diagnostics_channel'
import { readFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import https from 'node:https'
import type tls from 'node:tls'
import { fileURLToPath } from 'node:url'
import { onTestFinished } from 'vitest'
import { HttpServer, type ServeHttp } from '../../src/apps/http-server.ts'
import { CHANNEL_NAMES, type ConnectionErrorMessage } from '../../src/diagnostics.ts'

const dir = fileURLToPath(new URL('../../../../tooling/test-utils/certs/', import.meta.url))

/** Absolute path of a file of the test PKI (`tooling/test-utils/certs`). */
export function certPath(name: string): string {
  return `${dir}${name}`
}

/** The test PKI, as in `@pingora-ts/test-utils` (not a dependency of core). */
export const certs = {
  ca: certPath('ca.pem'),
  localhost: { cert: certPath('localhost.pem'), key: certPath('localhost.key') },
  rsaLocalhost: { cert: certPath('rsa-localhost.pem'), key: certPath('rsa-localhost.key') },
  aTest: { cert: certPath('a.test.pem'), key: certPath('a.test.key') },
  bTest: { cert: certPath('b.test.pem'), key: certPath('b.test.key') },
  wildcard: { cert: certPath('wild.test.pem'), key: certPath('wild.test.key') },
  clientCa: certPath('client-ca.pem'),
  client: { cert: certPath('client.pem'), key: certPath('client.key') },
  untrustedClient: {
    cert: certPath('untrusted-client.pem'),
    key: certPath('untrusted-client.key'),
  },
} as const

/** An app that answers with the connection's TLS digest as JSON. */
export const digestApp = new HttpServer({
  response: (session) => ({
    status: 200,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ path: session.requestHeader.uri, tls: session.digest.tls ?? null }),
  }),
} satisfies ServeHttp)

/** What {@link httpsGet} resolves with. */
export interface HttpsReply {
  readonly status: number
  readonly body: string
  /** The server certificate the client saw. */
  readonly serverCert: tls.PeerCertificate
}

/**
 * One HTTPS GET on a fresh connection (`agent: false`) to 127.0.0.1.
 * @param port - the server port
 * @param options - TLS client options (servername, ca, cert, key...)
 */
export function httpsGet(
  port: number,
  options: https.RequestOptions & tls.ConnectionOptions = {},
  path = '/',
): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const request = https.get(
      { host: '127.0.0.1', port, path, agent: false, ca: readPem(certs.ca), ...options },
      (response: IncomingMessage) => {
        const serverCert = (response.socket as tls.TLSSocket).getPeerCertificate()
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => {
          body += chunk
        })
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body, serverCert }))
        response.on('error', reject)
      },
    )
    request.on('error', reject)
  })
}

const pems = new Map<string, Buffer>()

/** Reads (and caches) a PEM file. */
export function readPem(path: string): Buffer {
  let pem = pems.get(path)
  if (pem === undefined) {
    pem = readFileSync(path)
    pems.set(path, pem)
  }
  return pem
}

/** Collects `pingora:connection:error` messages for the rest of the test. */
export function collectConnectionErrors(): {
  readonly messages: ConnectionErrorMessage[]
  /** Resolves with the next message not returned yet (waiting for it if needed). */
  next(): Promise<ConnectionErrorMessage>
} {
  const messages: ConnectionErrorMessage[] = []
  const waiters = new Map<number, (message: ConnectionErrorMessage) => void>()
  const onMessage = (message: unknown): void => {
    const typed = message as ConnectionErrorMessage
    messages.push(typed)
    const waiter = waiters.get(messages.length - 1)
    if (waiter !== undefined) {
      waiters.delete(messages.length - 1)
      waiter(typed)
    }
  }
  diagnosticsChannel.subscribe(CHANNEL_NAMES.connectionError, onMessage)
  onTestFinished(() => {
    diagnosticsChannel.unsubscribe(CHANNEL_NAMES.connectionError, onMessage)
  })
  let read = 0
  return {
    messages,
    next() {
      const index = read++
      const ready = messages[index]
      if (ready !== undefined) return Promise.resolve(ready)
      return new Promise((resolve) => waiters.set(index, resolve))
    },
  }
}
