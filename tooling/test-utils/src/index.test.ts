import { X509Certificate } from 'node:crypto'
import { existsSync } from 'node:fs'
import http2 from 'node:http2'
import https from 'node:https'
import net from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { certs, readCert, startOrigin, startRawServer } from './index.ts'

describe('certs', () => {
  it('points at files that exist', () => {
    for (const value of Object.values(certs)) {
      const paths = typeof value === 'string' ? [value] : [value.cert, value.key]
      for (const path of paths) expect(existsSync(path), path).toBe(true)
    }
  })

  it('issues the localhost cert from the test root through the intermediate', () => {
    const leaf = new X509Certificate(readCert('localhost.pem'))
    const intermediate = new X509Certificate(readCert('intermediate.pem'))
    const root = new X509Certificate(readCert('ca.pem'))
    expect(leaf.checkIssued(intermediate)).toBe(true)
    expect(intermediate.checkIssued(root)).toBe(true)
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1')
    expect(leaf.checkHost('localhost')).toBe('localhost')
  })

  it('has an expired cert and a 10-year localhost cert', () => {
    const expired = new X509Certificate(readCert('expired.pem'))
    expect(new Date(expired.validTo).getTime()).toBeLessThan(Date.now())
    const valid = new X509Certificate(readCert('localhost.pem'))
    expect(new Date(valid.validTo).getFullYear()).toBeGreaterThanOrEqual(
      new Date().getFullYear() + 8,
    )
  })

  it('refuses paths in readCert', () => {
    expect(() => readCert('../package.json')).toThrow(TypeError)
  })
})

describe('startOrigin', () => {
  it('serves HTTP/1.1 on an OS-assigned port', async () => {
    const origin = await startOrigin((_req, res) => res.end('hello'))
    onTestFinished(origin.close)
    expect(origin.port).toBeGreaterThan(0)
    expect(origin.url).toBe(`http://127.0.0.1:${origin.port}`)
    const response = await fetch(`${origin.url}/`)
    expect(await response.text()).toBe('hello')
  })

  it('serves HTTPS with the test certs', async () => {
    const origin = await startOrigin((_req, res) => res.end('secure'), { protocol: 'https' })
    onTestFinished(origin.close)
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get(`${origin.url}/`, { ca: readCert('ca.pem') }, (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => {
            text += chunk
          })
          res.on('end', () => resolve(text))
        })
        .on('error', reject)
    })
    expect(body).toBe('secure')
  })

  it('serves HTTP/2 over TLS', async () => {
    const origin = await startOrigin((req, res) => res.end(`v${req.httpVersion}`), {
      protocol: 'h2',
    })
    onTestFinished(origin.close)
    const session = http2.connect(origin.url, { ca: readCert('ca.pem') })
    onTestFinished(() => session.close())
    const stream = session.request({ ':path': '/' })
    let text = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      text += chunk
    })
    await new Promise((resolve) => stream.on('end', resolve))
    expect(text).toBe('v2.0')
  })

  it('closes twice without error and drops open connections', async () => {
    const origin = await startOrigin((_req, res) => res.end('x'))
    const socket = net.connect(origin.port, '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    const closed = new Promise((resolve) => socket.once('close', resolve))
    await Promise.all([origin.close(), origin.close()])
    await closed
    expect(socket.destroyed).toBe(true)
  })
})

describe('startRawServer', () => {
  it('hands each TCP connection to the callback', async () => {
    const raw = await startRawServer((socket) => socket.pipe(socket))
    onTestFinished(raw.close)
    expect(raw.url).toBe(`tcp://127.0.0.1:${raw.port}`)
    const socket = net.connect(raw.port, raw.host)
    onTestFinished(() => {
      socket.destroy()
    })
    socket.end('ping')
    let echoed = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      echoed += chunk
    })
    await new Promise((resolve) => socket.once('end', resolve))
    expect(echoed).toBe('ping')
  })
})
