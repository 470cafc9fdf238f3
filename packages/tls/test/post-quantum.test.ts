import { certs, readCert } from '@pingora-ts/test-utils'
import { describe, expect, it } from 'vitest'
import { clientTlsOptions } from '../src/client-tls.ts'
import { defaultGroups, supportsPostQuantum } from '../src/profile.ts'
import { TlsSettings } from '../src/tls-settings.ts'
import { connect, startTlsServer } from './helpers.ts'

const ca = readCert('ca.pem')
const [major = 0, minor = 0] = process.versions.openssl.split('.').map(Number)
const opensslHasMlkem = major > 3 || (major === 3 && minor >= 5)

describe('post-quantum key exchange', () => {
  it('detects X25519MLKEM768 support from the runtime OpenSSL', () => {
    expect(supportsPostQuantum()).toBe(opensslHasMlkem)
  })

  it('offers X25519MLKEM768 first when supported, else the classical groups', () => {
    expect(defaultGroups()).toEqual(
      opensslHasMlkem
        ? ['X25519MLKEM768', 'X25519', 'P-256', 'P-384']
        : ['X25519', 'P-256', 'P-384'],
    )
    expect(new TlsSettings().groups).toEqual(defaultGroups())
  })

  it('negotiates X25519MLKEM768 where supported and X25519 otherwise', async () => {
    const { port } = await startTlsServer(
      new TlsSettings({ cert: certs.localhost.cert, key: certs.localhost.key }),
    )
    const result = await connect(
      port,
      clientTlsOptions({ sni: 'localhost', ca, groups: ['X25519MLKEM768', 'X25519'] }),
    )
    expect(result.ok).toBe(true)
    // Node 22 names only (EC)DH groups: `undefined` there means the hybrid group (X25519 would
    // be named). Node 24 names both.
    const nodeNamesKemGroups = Number(process.versions.node.split('.')[0]) >= 24
    const hybrid = nodeNamesKemGroups ? 'X25519MLKEM768' : undefined
    expect(result.client?.group).toBe(opensslHasMlkem ? hybrid : 'X25519')
  })

  it('drops unsupported post-quantum groups from an explicit list', () => {
    const settings = new TlsSettings().setGroups(['X25519MLKEM768', 'X25519', 'P-256'])
    expect(settings.groups).toEqual(
      opensslHasMlkem ? ['X25519MLKEM768', 'X25519', 'P-256'] : ['X25519', 'P-256'],
    )
  })

  it('negotiates the only group the server allows', async () => {
    const settings = new TlsSettings({ cert: certs.localhost.cert, key: certs.localhost.key })
    settings.setGroups(['P-384'])
    const { port } = await startTlsServer(settings)
    const result = await connect(port, { servername: 'localhost', ca })
    expect(result.ok).toBe(true)
    expect(result.client?.group).toMatch(/^(secp384r1|P-384)$/)
  })
})
