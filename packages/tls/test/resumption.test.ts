import diagnostics from 'node:diagnostics_channel'
import { certs, readCert } from '@pingora-ts/test-utils'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { TLS_CHANNELS } from '../src/diagnostics.ts'
import { TlsSettings } from '../src/tls-settings.ts'
import { connect, startTlsServer } from './helpers.ts'

const ca = readCert('ca.pem')

function settings(options: ConstructorParameters<typeof TlsSettings>[0] = {}) {
  return new TlsSettings({
    cert: certs.localhost.cert,
    key: certs.localhost.key,
    ...options,
  }).addCertificate('a.test', certs.aTest.cert, certs.aTest.key)
}

async function twice(port: number, servername: string, maxVersion?: 'TLSv1.2') {
  const first = await connect(port, { servername, ca, maxVersion })
  expect(first.ok).toBe(true)
  expect(first.session).toBeInstanceOf(Buffer)
  const second = await connect(port, { servername, ca, maxVersion, session: first.session })
  expect(second.ok).toBe(true)
  return { first, second }
}

describe('session resumption', () => {
  it('resumes a TLS 1.3 session from a ticket on the second connection', async () => {
    const { port } = await startTlsServer(settings())
    const { first, second } = await twice(port, 'localhost')
    expect(first.client?.sessionReused).toBe(false)
    expect(second.client?.sessionReused).toBe(true)
    expect(second.server?.sessionReused).toBe(true)
  })

  it('resumes a TLS 1.2 session', async () => {
    const { port } = await startTlsServer(settings())
    const { second } = await twice(port, 'localhost', 'TLSv1.2')
    expect(second.client?.version).toBe('TLSv1.2')
    expect(second.client?.sessionReused).toBe(true)
  })

  it('resumes on a certificate selected by SNI', async () => {
    const { port } = await startTlsServer(settings())
    const { second } = await twice(port, 'a.test')
    expect(second.server?.servername).toBe('a.test')
    expect(second.client?.sessionReused).toBe(true)
  })

  it('stops resuming old tickets after the ticket key rotates, then resumes new ones', async () => {
    const tlsSettings = settings()
    const { port } = await startTlsServer(tlsSettings)
    const { first } = await twice(port, 'localhost')
    tlsSettings.rotateTicketKeys()
    const stale = await connect(port, { servername: 'localhost', ca, session: first.session })
    expect(stale.ok).toBe(true)
    expect(stale.client?.sessionReused).toBe(false)
    const fresh = await connect(port, { servername: 'localhost', ca, session: stale.session })
    expect(fresh.client?.sessionReused).toBe(true)
  })

  it('does not resume when session tickets are off', async () => {
    const { port } = await startTlsServer(settings({ sessionTickets: false }))
    const first = await connect(port, { servername: 'localhost', ca })
    const second = await connect(port, { servername: 'localhost', ca, session: first.session })
    expect(second.ok).toBe(true)
    expect(second.client?.sessionReused).toBe(false)
  })
})

describe('ticket key rotation timer', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('rotates the ticket key every ticketKeyRotationMs once in use', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    const tlsSettings = settings({ ticketKeyRotationMs: 60_000 })
    const rotations: unknown[] = []
    const fn = (message: unknown) => {
      if ((message as { settings: unknown }).settings === tlsSettings) rotations.push(message)
    }
    diagnostics.subscribe(TLS_CHANNELS.ticketKeysRotated, fn)
    try {
      vi.advanceTimersByTime(120_000)
      expect(rotations.length).toBe(0)
      tlsSettings.toServerOptions()
      vi.advanceTimersByTime(59_999)
      expect(rotations.length).toBe(0)
      vi.advanceTimersByTime(1)
      expect(rotations.length).toBe(1)
      vi.advanceTimersByTime(120_000)
      expect(rotations.length).toBe(3)
      tlsSettings.close()
      vi.advanceTimersByTime(120_000)
      expect(rotations.length).toBe(3)
    } finally {
      diagnostics.unsubscribe(TLS_CHANNELS.ticketKeysRotated, fn)
    }
  })
})
