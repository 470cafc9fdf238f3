import { X509Certificate } from 'node:crypto'
import diagnostics from 'node:diagnostics_channel'
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PingoraError } from '@pingora-ts/error'
import { type CertPaths, certs, readCert } from '@pingora-ts/test-utils'
import { describe, expect, it, onTestFinished } from 'vitest'
import { TLS_CHANNELS, type TlsReloadMessage } from '../src/diagnostics.ts'
import { TlsSettings } from '../src/tls-settings.ts'
import { connect, servedCert, startTlsServer } from './helpers.ts'

const ca = readCert('ca.pem')
const ecPrint = new X509Certificate(readCert('localhost.pem')).fingerprint256
const expiredPrint = new X509Certificate(readCert('expired.pem')).fingerprint256
const rsaPrint = new X509Certificate(readCert('rsa-localhost.pem')).fingerprint256

/** A temp dir holding cert.pem/key.pem, starting as the ECDSA localhost pair. */
function certDir() {
  const dir = mkdtempSync(join(tmpdir(), 'pingora-tls-'))
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  install({ cert, key }, certs.localhost)
  return { dir, cert, key }
}

/** Replaces a cert/key pair atomically, the way deploy tools do (write aside, rename). */
function install(target: CertPaths, source: CertPaths) {
  copyFileSync(source.cert, `${target.cert}.tmp`)
  copyFileSync(source.key, `${target.key}.tmp`)
  renameSync(`${target.cert}.tmp`, target.cert)
  renameSync(`${target.key}.tmp`, target.key)
}

/** Collects messages of a diagnostics channel for the duration of a test. */
function listen(name: string): TlsReloadMessage[] {
  const seen: TlsReloadMessage[] = []
  const fn = (message: unknown) => {
    seen.push(message as TlsReloadMessage)
  }
  diagnostics.subscribe(name, fn)
  onTestFinished(() => {
    diagnostics.unsubscribe(name, fn)
  })
  return seen
}

/** Resolves on the next successful reload of `settings`. */
function nextReload(settings: TlsSettings): Promise<void> {
  return new Promise((resolve) => {
    const fn = (message: unknown) => {
      if ((message as TlsReloadMessage).settings !== settings) return
      diagnostics.unsubscribe(TLS_CHANNELS.reloaded, fn)
      resolve()
    }
    diagnostics.subscribe(TLS_CHANNELS.reloaded, fn)
  })
}

describe('hot reload', () => {
  it('serves the new certificate to new handshakes after reload(), with and without SNI', async () => {
    const files = certDir()
    const settings = new TlsSettings({ cert: files.cert, key: files.key })
    const { port } = await startTlsServer(settings)
    expect(await servedCert(port, 'localhost')).toBe(ecPrint)
    install(files, certs.rsaLocalhost)
    expect(await servedCert(port, 'localhost')).toBe(ecPrint)
    await settings.reload()
    expect(await servedCert(port, 'localhost')).toBe(rsaPrint)
    expect(await servedCert(port, undefined)).toBe(rsaPrint)
  })

  it('keeps the old certificate when the new file is broken, and reports why', async () => {
    const files = certDir()
    const failures: PingoraError[] = []
    const settings = new TlsSettings({
      cert: files.cert,
      key: files.key,
      onReloadError: (error) => failures.push(error),
    })
    const published = listen(TLS_CHANNELS.reloadFailed)
    const { port } = await startTlsServer(settings)
    writeFileSync(files.cert, '-----BEGIN CERTIFICATE-----\nnot a certificate\n')
    const error = await settings.reload().catch((e: unknown) => e)
    expect(PingoraError.is(error) && error.type).toBe('TLSConfigError')
    expect(failures).toEqual([error])
    expect(published.filter((m) => m.settings === settings).map((m) => m.error)).toEqual([error])
    expect(await servedCert(port, 'localhost')).toBe(ecPrint)
    const verified = await connect(port, { servername: 'localhost', ca })
    expect(verified.ok).toBe(true)
  })

  it('keeps the old certificate when the new cert and key do not match', async () => {
    const files = certDir()
    const settings = new TlsSettings({ cert: files.cert, key: files.key })
    const { port } = await startTlsServer(settings)
    copyFileSync(certs.rsaLocalhost.cert, files.cert)
    await expect(settings.reload()).rejects.toMatchObject({ type: 'TLSConfigError' })
    expect(await servedCert(port, 'localhost')).toBe(ecPrint)
  })

  it('keeps serving when a file disappears', async () => {
    const files = certDir()
    const settings = new TlsSettings({ cert: files.cert, key: files.key })
    const { port } = await startTlsServer(settings)
    renameSync(files.key, `${files.key}.gone`)
    await expect(settings.reload()).rejects.toMatchObject({ type: 'TLSConfigError' })
    expect(await servedCert(port, 'localhost')).toBe(ecPrint)
  })

  it('reloads SNI certificates too', async () => {
    const files = certDir()
    const settings = new TlsSettings({ cert: certs.aTest.cert, key: certs.aTest.key })
    settings.addCertificate('localhost', files.cert, files.key)
    const { port } = await startTlsServer(settings)
    expect(await servedCert(port, 'localhost')).toBe(ecPrint)
    // Same key type as the default certificate: see the README on mixing RSA and ECDSA with SNI.
    install(files, certs.expired)
    await settings.reload()
    expect(await servedCert(port, 'localhost')).toBe(expiredPrint)
  })

  it('picks up changed files by itself with watchFiles()', async () => {
    const files = certDir()
    const settings = new TlsSettings({ cert: files.cert, key: files.key })
    const stop = settings.watchFiles({ debounceMs: 20 })
    onTestFinished(stop)
    const { port } = await startTlsServer(settings)
    const reloaded = nextReload(settings)
    install(files, certs.rsaLocalhost)
    await reloaded
    expect(await servedCert(port, 'localhost')).toBe(rsaPrint)
  })

  it('follows a Kubernetes-style ..data symlink swap with watchFiles()', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pingora-tls-k8s-'))
    const version = (name: string, source: CertPaths) => {
      mkdirSync(join(dir, name))
      copyFileSync(source.cert, join(dir, name, 'tls.crt'))
      copyFileSync(source.key, join(dir, name, 'tls.key'))
    }
    version('..v1', certs.localhost)
    symlinkSync('..v1', join(dir, '..data'))
    symlinkSync('..data/tls.crt', join(dir, 'tls.crt'))
    symlinkSync('..data/tls.key', join(dir, 'tls.key'))
    const settings = new TlsSettings({ cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') })
    onTestFinished(settings.watchFiles({ debounceMs: 20 }))
    const { port } = await startTlsServer(settings)
    expect(await servedCert(port, 'localhost')).toBe(ecPrint)
    version('..v2', certs.rsaLocalhost)
    const reloaded = nextReload(settings)
    symlinkSync('..v2', join(dir, '..data_tmp'))
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
    await reloaded
    expect(await servedCert(port, 'localhost')).toBe(rsaPrint)
  })

  it('completes every handshake while certificates are swapped under load', async () => {
    const files = certDir()
    const settings = new TlsSettings({ cert: files.cert, key: files.key })
    onTestFinished(settings.watchFiles({ debounceMs: 10 }))
    const { port } = await startTlsServer(settings)
    let running = true
    let handshakes = 0
    const failures: unknown[] = []
    const seen = new Set<string>()
    const worker = async () => {
      while (running) {
        const result = await connect(port, { servername: 'localhost', ca })
        handshakes++
        if (!result.ok) failures.push(result.error ?? 'no response')
        const print = result.client?.peerCertificate?.fingerprint256
        if (print !== undefined) seen.add(print)
      }
    }
    const workers = Array.from({ length: 6 }, worker)
    const swaps = [
      certs.rsaLocalhost,
      certs.localhost,
      certs.rsaLocalhost,
      certs.localhost,
      certs.rsaLocalhost,
    ]
    for (const source of swaps) {
      const target = source === certs.localhost ? ecPrint : rsaPrint
      // Wait for handshakes to run against the current certificate before each swap.
      const before = handshakes
      while (handshakes < before + 10) await new Promise((resolve) => setImmediate(resolve))
      // Write in place, cert then key: a reload may read a mismatched pair in between, which must
      // keep the old context, never break a handshake.
      const reloaded = nextReload(settings)
      writeFileSync(
        files.cert,
        readCert(source === certs.localhost ? 'localhost.pem' : 'rsa-localhost.pem'),
      )
      writeFileSync(
        files.key,
        readCert(source === certs.localhost ? 'localhost.key' : 'rsa-localhost.key'),
      )
      await reloaded
      for (;;) {
        const print = await servedCert(port, 'localhost')
        if (print === target) break
        await nextReload(settings)
      }
    }
    running = false
    await Promise.all(workers)
    expect(failures).toEqual([])
    expect(handshakes).toBeGreaterThanOrEqual(50)
    expect(seen).toEqual(new Set([ecPrint, rsaPrint]))
    expect(await servedCert(port, 'localhost')).toBe(rsaPrint)
  })
})
