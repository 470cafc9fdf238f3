import { PingoraError } from '@pingora-ts/error'
import { describe, expect, it } from 'vitest'
import {
  crc32c,
  encodeProxyHeader,
  PROXY_HEADER_INCOMPLETE,
  PROXY_TLV,
  parseProxyHeader,
} from './proxy-protocol.ts'

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')

function v2(versionCommand: number, family: number, body: Buffer): Buffer {
  const head = Buffer.alloc(4)
  head[0] = versionCommand
  head[1] = family
  head.writeUInt16BE(body.length, 2)
  return Buffer.concat([V2_SIGNATURE, head, body])
}

function expectMalformed(data: Buffer | string, options = {}): void {
  let thrown: unknown
  try {
    parseProxyHeader(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, options)
  } catch (error) {
    thrown = error
  }
  expect(PingoraError.is(thrown)).toBe(true)
  expect(thrown).toMatchObject({ type: 'HandshakeError', source: 'downstream' })
}

describe('parseProxyHeader, version 1', () => {
  it('parses TCP4 and TCP6 lines and reports the header length', () => {
    const line = 'PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /'
    const parsed = parseProxyHeader(Buffer.from(line, 'latin1'))
    expect(parsed).toEqual({
      header: {
        version: 1,
        command: 'proxy',
        transport: 'tcp',
        source: { address: '192.0.2.1', port: 56324, family: 'IPv4' },
        destination: { address: '198.51.100.2', port: 443, family: 'IPv4' },
        tlvs: [],
      },
      length: line.indexOf('GET'),
    })
    const six = parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 ::1 1 65535\r\n'))
    expect(six).toMatchObject({
      header: {
        source: { address: '2001:db8::1', port: 1, family: 'IPv6' },
        destination: { address: '::1', port: 65535 },
      },
    })
  })

  it('treats UNKNOWN as a local connection and ignores the rest of its line', () => {
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toMatchObject({
      header: { version: 1, command: 'local', source: undefined },
      length: 15,
    })
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n'))).toMatchObject({
      header: { command: 'local' },
      length: 35,
    })
  })

  it('asks for more bytes on a prefix', () => {
    for (const prefix of ['P', 'PROXY', 'PROXY TCP4 1.2.3.4', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r']) {
      expect(parseProxyHeader(Buffer.from(prefix))).toBe(PROXY_HEADER_INCOMPLETE)
    }
  })

  it('rejects malformed lines', () => {
    expectMalformed('PROXZ TCP4')
    expectMalformed('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n') // LF without CR
    expectMalformed('PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n') // double space
    expectMalformed('PROXY TCP4 ::1 5.6.7.8 1 2\r\n') // wrong family
    expectMalformed('PROXY TCP6 1.2.3.4 ::1 1 2\r\n')
    expectMalformed('PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n') // leading zero
    expectMalformed('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n')
    expectMalformed('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n')
    expectMalformed('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n')
    expectMalformed('GET / HTTP/1.1\r\n')
  })

  it('rejects a line longer than 107 bytes, without waiting for more', () => {
    expectMalformed(`PROXY UNKNOWN ${'x'.repeat(100)}`)
    // 107 bytes exactly is allowed.
    const longest = `PROXY UNKNOWN ${'x'.repeat(91)}\r\n`
    expect(longest.length).toBe(107)
    expect(parseProxyHeader(Buffer.from(longest))).toMatchObject({ length: 107 })
  })
})

describe('parseProxyHeader, version 2', () => {
  it('parses IPv4 and IPv6 PROXY headers with TLVs', () => {
    const body4 = Buffer.from([192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb])
    const tlv = Buffer.from([PROXY_TLV.AUTHORITY, 0, 6, ...Buffer.from('a.test')])
    const header = v2(0x21, 0x11, Buffer.concat([body4, tlv]))
    const parsed = parseProxyHeader(Buffer.concat([header, Buffer.from('data')]))
    expect(parsed).toEqual({
      header: {
        version: 2,
        command: 'proxy',
        transport: 'tcp',
        source: { address: '192.0.2.1', port: 56324, family: 'IPv4' },
        destination: { address: '198.51.100.2', port: 443, family: 'IPv4' },
        tlvs: [{ type: PROXY_TLV.AUTHORITY, value: new Uint8Array(Buffer.from('a.test')) }],
      },
      length: header.length,
    })
    const body6 = Buffer.alloc(36)
    body6.writeUInt16BE(0x2001, 0)
    body6.writeUInt16BE(0x0db8, 2)
    body6[15] = 1
    body6[31] = 1
    body6.writeUInt16BE(1234, 32)
    body6.writeUInt16BE(80, 34)
    expect(parseProxyHeader(v2(0x21, 0x21, body6))).toMatchObject({
      header: {
        source: { address: '2001:db8::1', port: 1234, family: 'IPv6' },
        destination: { address: '::1', port: 80 },
      },
    })
  })

  it('ignores the addresses of a LOCAL header', () => {
    const body4 = Buffer.from([10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 2])
    expect(parseProxyHeader(v2(0x20, 0x11, body4))).toMatchObject({
      header: { command: 'local', source: undefined, destination: undefined },
    })
    expect(parseProxyHeader(v2(0x20, 0x00, Buffer.alloc(0)))).toMatchObject({
      header: { command: 'local', transport: 'unspec' },
      length: 16,
    })
  })

  it('asks for more bytes on a prefix', () => {
    const header = v2(0x21, 0x11, Buffer.alloc(12))
    for (let i = 1; i < header.length; i++) {
      expect(parseProxyHeader(header.subarray(0, i))).toBe(PROXY_HEADER_INCOMPLETE)
    }
  })

  it('rejects bad versions, commands, families, short blocks and broken TLVs', () => {
    expectMalformed(v2(0x11, 0x11, Buffer.alloc(12))) // version 1 in a v2 header
    expectMalformed(v2(0x22, 0x11, Buffer.alloc(12))) // command 2
    expectMalformed(v2(0x21, 0x41, Buffer.alloc(12))) // family 4
    expectMalformed(v2(0x21, 0x13, Buffer.alloc(12))) // transport 3
    expectMalformed(v2(0x21, 0x11, Buffer.alloc(11))) // too short for IPv4
    expectMalformed(v2(0x21, 0x21, Buffer.alloc(12))) // too short for IPv6
    expectMalformed(v2(0x21, 0x11, Buffer.concat([Buffer.alloc(12), Buffer.from([1, 0])])))
    expectMalformed(v2(0x21, 0x11, Buffer.concat([Buffer.alloc(12), Buffer.from([1, 0, 9, 1])])))
    const badSignature = v2(0x21, 0x11, Buffer.alloc(12))
    badSignature[5] = 0x0e
    expectMalformed(badSignature)
  })

  it('bounds the header size', () => {
    // A length field of 4111: 16 + 4111 bytes is over the default limit of 4096, refused
    // from the 16 fixed bytes alone, before the body arrives.
    const head = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0x10, 0x0f])])
    expectMalformed(head)
    expect(parseProxyHeader(head, { maxV2Bytes: 65_551 })).toBe(PROXY_HEADER_INCOMPLETE)
    // 16 + 4080 = 4096 exactly is allowed.
    const largest = v2(
      0x21,
      0x11,
      Buffer.concat([Buffer.alloc(12), Buffer.from([0xe0, 0x0f, 0xe1]), Buffer.alloc(4065)]),
    )
    expect(largest.length).toBe(4096)
    expect(parseProxyHeader(largest)).toMatchObject({ length: 4096 })
  })

  it('checks a CRC32C TLV', () => {
    const good = encodeProxyHeader(2, {
      source: { address: '10.0.0.1', port: 1000, family: 'IPv4' },
      destination: { address: '10.0.0.2', port: 2000, family: 'IPv4' },
      tlvs: [{ type: PROXY_TLV.CRC32C, value: new Uint8Array(4) }],
    })
    // Fill in the checksum over the header with the field zeroed.
    good.writeUInt32BE(crc32c(good), good.length - 4)
    expect(parseProxyHeader(good)).toMatchObject({ header: { command: 'proxy' } })
    const bad = Buffer.from(good)
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 1
    expectMalformed(bad)
  })

  it('refuses a version the listener does not accept', () => {
    expectMalformed('PROXY UNKNOWN\r\n', { versions: [2] })
    expectMalformed(v2(0x20, 0x00, Buffer.alloc(0)), { versions: [1] })
  })
})

describe('encodeProxyHeader', () => {
  const v4 = {
    source: { address: '203.0.113.9', port: 40000, family: 'IPv4' },
    destination: { address: '192.0.2.10', port: 443, family: 'IPv4' },
  }
  const v6 = {
    source: { address: '2001:db8::9', port: 40000, family: 'IPv6' },
    destination: { address: '2001:db8::1', port: 443, family: 'IPv6' },
  }

  it('writes v1 lines that parse back', () => {
    expect(encodeProxyHeader(1, v4).toString()).toBe(
      'PROXY TCP4 203.0.113.9 192.0.2.10 40000 443\r\n',
    )
    expect(parseProxyHeader(encodeProxyHeader(1, v6))).toMatchObject({ header: v6 })
    expect(encodeProxyHeader(1, { source: undefined, destination: undefined }).toString()).toBe(
      'PROXY UNKNOWN\r\n',
    )
  })

  it('writes v2 headers that parse back, TLVs included', () => {
    const tlvs = [{ type: PROXY_TLV.UNIQUE_ID, value: new Uint8Array([1, 2, 3]) }]
    expect(parseProxyHeader(encodeProxyHeader(2, { ...v4, tlvs }))).toMatchObject({
      header: { version: 2, command: 'proxy', ...v4, tlvs },
    })
    expect(parseProxyHeader(encodeProxyHeader(2, v6))).toMatchObject({ header: v6 })
    expect(
      parseProxyHeader(encodeProxyHeader(2, { source: undefined, destination: undefined })),
    ).toMatchObject({ header: { command: 'local' }, length: 16 })
  })

  it('writes IPv4-mapped addresses as IPv4 and mixed families as UNKNOWN/LOCAL', () => {
    const mapped = {
      source: { address: '::ffff:127.0.0.1', port: 1, family: 'IPv6' },
      destination: { address: '::ffff:127.0.0.2', port: 2, family: 'IPv6' },
    }
    expect(encodeProxyHeader(1, mapped).toString()).toBe('PROXY TCP4 127.0.0.1 127.0.0.2 1 2\r\n')
    const mixed = { source: v4.source, destination: v6.destination }
    expect(encodeProxyHeader(1, mixed).toString()).toBe('PROXY UNKNOWN\r\n')
    expect(parseProxyHeader(encodeProxyHeader(2, mixed))).toMatchObject({
      header: { command: 'local' },
    })
  })

  it('computes the CRC32C check value of the spec test vector', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283)
  })
})
