// Issue 17: OCSP stapling on core's TLS listener. The OCSP material (a signer certificate
// issued by the test intermediate, an index, responses) is made with the openssl CLI in a
// temporary directory; fetched responses come from a real `openssl ocsp` responder.
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process'
import diagnosticsChannel from 'node:diagnostics_channel'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import { CHANNEL_NAMES, type TlsOcspMessage, TlsSettings } from '@pingora-ts/tls'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { ListeningService } from '../../src/services/listening.ts'
import { portOf, startServer } from '../server/helpers.ts'
import { certPath, certs, digestApp, readPem } from './helpers.ts'

const HAS_OPENSSL = existsSync('/usr/bin/openssl')
const intermediate = { cert: certPath('intermediate.pem'), key: certPath('intermediate.key') }
let dir = ''
const file = (name: string) => join(dir, name)
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })

function subjectOf(cert: string): string {
  const out = openssl('x509', '-in', cert, '-noout', '-subject', '-nameopt', 'compat')
  return out
    .toString()
    .trim()
    .replace(/^subject=/, '')
}

function serialOf(cert: string): string {
  return openssl('x509', '-in', cert, '-noout', '-serial').toString().trim().split('=')[1] ?? ''
}

/** Writes an `openssl ca`-style index listing `certs` as valid. */
function writeIndex(name: string, certsToList: { serial: string; subject: string }[]): void {
  const lines = certsToList.map((c) => `V\t301231000000Z\t\t${c.serial}\tunknown\t${c.subject}\n`)
  writeFileSync(file(name), lines.join(''))
}

/** Asks the index-backed responder (offline, `-reqin`) for a response about `leaf`. */
function makeResponse(leaf: string, out: string, index = 'index.txt'): Buffer {
  openssl('x509', '-in', leaf, '-out', file('leaf-only.pem'))
  openssl(
    'ocsp',
    '-issuer',
    intermediate.cert,
    '-cert',
    file('leaf-only.pem'),
    '-no_nonce',
    '-reqout',
    file('req.der'),
  )
  openssl(
    'ocsp',
    '-index',
    file(index),
    '-CA',
    intermediate.cert,
    '-rsigner',
    file('ocsp.pem'),
    '-rkey',
    file('ocsp.key'),
    '-reqin',
    file('req.der'),
    '-respout',
    file(out),
    '-ndays',
    '1',
  )
  return readFileSync(file(out))
}

beforeAll(() => {
  if (!HAS_OPENSSL) return
  dir = mkdtempSync(join(tmpdir(), 'pingora-ocsp-'))
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'ocsp.key')
  openssl(
    'req',
    '-new',
    '-key',
    'ocsp.key',
    '-subj',
    '/CN=pingora-ts test OCSP signer',
    '-out',
    'ocsp.csr',
  )
  writeFileSync(file('ocsp.ext'), 'extendedKeyUsage=OCSPSigning\n')
  openssl(
    'x509',
    '-req',
    '-in',
    'ocsp.csr',
    '-CA',
    intermediate.cert,
    '-CAkey',
    intermediate.key,
    '-set_serial',
    '4097',
    '-days',
    '2',
    '-extfile',
    'ocsp.ext',
    '-out',
    'ocsp.pem',
  )
  writeIndex('index.txt', [
    { serial: serialOf(certs.localhost.cert), subject: subjectOf(certs.localhost.cert) },
    { serial: serialOf(certs.aTest.cert), subject: subjectOf(certs.aTest.cert) },
  ])
  makeResponse(certs.localhost.cert, 'localhost.der')
  makeResponse(certs.aTest.cert, 'a-test.der')
})

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true })
})

async function listen(settings: TlsSettings): Promise<number> {
  const service = new ListeningService('tls', digestApp)
  service.addTlsWithSettings('127.0.0.1:0', undefined, settings)
  await startServer([service])
  onTestFinished(() => settings.close())
  return portOf(service)
}

/** Connects asking for certificate status; resolves the stapled response (`null`: none). */
function stapled(port: number, maxVersion: tls.SecureVersion = 'TLSv1.3'): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    let response: Buffer | null | undefined
    // `requestOCSP` is a tls.connect option that @types/node does not list.
    const options: tls.ConnectionOptions & { requestOCSP: boolean } = {
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: readPem(certs.ca),
      requestOCSP: true,
      maxVersion,
    }
    const socket = tls.connect(options)
    socket.once('OCSPResponse', (r: Buffer | null) => {
      response = r
    })
    socket.once('secureConnect', () => {
      socket.destroy()
      // node:tls emits 'OCSPResponse' (null when nothing was stapled) before 'secureConnect'.
      if (response === undefined) reject(new Error('no OCSPResponse event'))
      else resolve(response)
    })
    socket.once('error', reject)
  })
}

function sClientStatus(port: number): Promise<string> {
  return new Promise((resolve) => {
    const child = execFile(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-status'],
      { timeout: 10_000 },
      (_error, stdout, stderr) => resolve(stdout + stderr),
    )
    child.stdin?.end()
  })
}

function nextMessage(channel: string): Promise<TlsOcspMessage> {
  return new Promise((resolve) => {
    const onMessage = (message: unknown) => {
      diagnosticsChannel.unsubscribe(channel, onMessage)
      resolve(message as TlsOcspMessage)
    }
    diagnosticsChannel.subscribe(channel, onMessage)
  })
}

describe.runIf(HAS_OPENSSL)('OCSP stapling', () => {
  it('staples nothing without the option, even to a client that asks', async () => {
    const port = await listen(TlsSettings.intermediate(certs.localhost.cert, certs.localhost.key))
    expect(await stapled(port)).toBeNull()
    expect(await sClientStatus(port)).toContain('OCSP response: no response sent')
  })

  it('staples the response file to TLS 1.3 and TLS 1.2 clients that ask for status', async () => {
    const settings = new TlsSettings({
      cert: certs.localhost.cert,
      key: certs.localhost.key,
      ocspStapling: { responseFile: file('localhost.der') },
    })
    const port = await listen(settings)
    const expected = readFileSync(file('localhost.der'))
    expect((await stapled(port, 'TLSv1.3'))?.equals(expected)).toBe(true)
    expect((await stapled(port, 'TLSv1.2'))?.equals(expected)).toBe(true)
    const output = await sClientStatus(port)
    expect(output).toContain('OCSP Response Status: successful')
    expect(output).toContain('Cert Status: good')
    expect(output).toContain(`Serial Number: ${serialOf(certs.localhost.cert)}`)
  })

  it('does not staple a response for another certificate', async () => {
    const failed = nextMessage(CHANNEL_NAMES.ocspFailed)
    const settings = new TlsSettings({
      cert: certs.localhost.cert,
      key: certs.localhost.key,
      ocspStapling: { responseFile: file('a-test.der') },
    })
    const port = await listen(settings)
    expect((await failed).error?.message).toMatch(/no response for certificate serial/)
    expect(await stapled(port)).toBeNull()
  })

  it('stops stapling a response once its nextUpdate is past', async () => {
    let now = Date.now()
    const settings = new TlsSettings({
      cert: certs.localhost.cert,
      key: certs.localhost.key,
      ocspStapling: { responseFile: file('localhost.der'), now: () => now },
    })
    const port = await listen(settings)
    expect(await stapled(port)).not.toBeNull()
    now += 2 * 86_400_000 // the response was made with -ndays 1
    expect(await stapled(port)).toBeNull()
  })

  it('re-reads the response file on reload', async () => {
    writeFileSync(file('reloaded.der'), readFileSync(file('localhost.der')))
    const settings = new TlsSettings({
      cert: certs.localhost.cert,
      key: certs.localhost.key,
      ocspStapling: { responseFile: file('reloaded.der') },
    })
    const port = await listen(settings)
    const first = await stapled(port)
    expect(first?.equals(readFileSync(file('localhost.der')))).toBe(true)
    // A new response (new producedAt and signature) replaces the file, then a reload.
    const renewed = makeResponse(certs.localhost.cert, 'renewed.der')
    expect(renewed.equals(first as Buffer)).toBe(false)
    writeFileSync(file('reloaded.der'), renewed)
    await settings.reload()
    expect((await stapled(port))?.equals(renewed)).toBe(true)
  })

  it("fetches the response from the certificate's OCSP responder (AIA) and staples it", async () => {
    const serial = '17170017'
    writeIndex('fetch-index.txt', [{ serial, subject: '/O=pingora-ts test/CN=localhost' }])
    const responder = await startResponder('fetch-index.txt')
    // A leaf whose AIA names the responder, issued by the test intermediate.
    openssl(
      'req',
      '-new',
      '-key',
      certs.localhost.key,
      '-subj',
      '/O=pingora-ts test/CN=localhost',
      '-out',
      'aia.csr',
    )
    writeFileSync(
      file('aia.ext'),
      `subjectAltName=DNS:localhost,IP:127.0.0.1\nauthorityInfoAccess=OCSP;URI:http://127.0.0.1:${responder.port}/\n`,
    )
    openssl(
      'x509',
      '-req',
      '-in',
      'aia.csr',
      '-CA',
      intermediate.cert,
      '-CAkey',
      intermediate.key,
      '-set_serial',
      `0x${serial}`,
      '-days',
      '2',
      '-extfile',
      'aia.ext',
      '-out',
      'aia-leaf.pem',
    )
    writeFileSync(
      file('aia.pem'),
      Buffer.concat([readFileSync(file('aia-leaf.pem')), readFileSync(intermediate.cert)]),
    )
    const updated = nextMessage(CHANNEL_NAMES.ocspUpdated)
    const settings = new TlsSettings({
      cert: file('aia.pem'),
      key: certs.localhost.key,
      ocspStapling: { fetch: true, timeoutMs: 5_000 },
    })
    const port = await listen(settings)
    const message = await updated
    expect(message.source).toBe('fetch')
    expect(message.nextUpdateMs).toBeGreaterThan(Date.now())
    const response = await stapled(port)
    expect(response).not.toBeNull()
    const output = await sClientStatus(port)
    expect(output).toContain('Cert Status: good')
    expect(output).toContain(`Serial Number: ${serial.toUpperCase()}`)
  })

  it('gives up a fetch from a responder that never answers after timeoutMs', async () => {
    const silent = net.createServer(() => undefined)
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    onTestFinished(() => {
      silent.close()
    })
    const { port } = silent.address() as net.AddressInfo
    const settings = new TlsSettings({
      cert: certs.localhost.cert,
      key: certs.localhost.key,
      ocspStapling: { fetch: true, responderUrl: `http://127.0.0.1:${port}/`, timeoutMs: 200 },
    })
    settings.build()
    onTestFinished(() => settings.close())
    const error = await settings.refreshOcsp().then(
      () => undefined,
      (e: unknown) => e as Error,
    )
    expect(error?.name).toMatch(/TimeoutError|AbortError/)
  })

  it('answers tls.Server OCSPRequest events for servers given to attach()', async () => {
    const settings = new TlsSettings({
      cert: certs.localhost.cert,
      key: certs.localhost.key,
      ocspStapling: { responseFile: file('localhost.der') },
    })
    const server = tls.createServer(settings.toServerOptions(), (socket) => socket.end())
    const detach = settings.attach(server)
    onTestFinished(() => {
      detach()
      settings.close()
      server.close()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as net.AddressInfo
    expect((await stapled(port))?.equals(readFileSync(file('localhost.der')))).toBe(true)
  })

  it('rejects ocspStapling options that cannot work', () => {
    expect(() => new TlsSettings({ ocspStapling: {} })).toThrow(
      'ocspStapling needs a responseFile or fetch: true',
    )
    expect(() => new TlsSettings({ ocspStapling: { fetch: true, refreshMs: 10 } })).toThrow(
      'ocspStapling.refreshMs must be an integer from 1000 to 604800000, got 10',
    )
  })
})

/** Starts `openssl ocsp` as a responder on a free port (it prints the port it took). */
async function startResponder(index: string): Promise<{ port: number }> {
  const child: ChildProcess = spawn(
    'openssl',
    [
      'ocsp',
      '-index',
      file(index),
      '-port',
      '0',
      '-CA',
      intermediate.cert,
      '-rsigner',
      file('ocsp.pem'),
      '-rkey',
      file('ocsp.key'),
      '-ndays',
      '1',
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  onTestFinished(() => {
    child.kill()
  })
  return new Promise((resolve, reject) => {
    let text = ''
    const onData = (data: Buffer) => {
      text += data.toString()
      const match = /ACCEPT \S*:(\d+)/.exec(text)
      if (match !== null) resolve({ port: Number(match[1]) })
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code) => reject(new Error(`openssl ocsp exited ${String(code)}: ${text}`)))
  })
}
