import dgram from 'node:dgram'
import { isIPv4 } from 'node:net'

/** A record the test DNS server answers with. */
export type DnsRecord =
  | { type: 'A'; address: string; ttl: number }
  | { type: 'AAAA'; address: string; ttl: number }
  | { type: 'SRV'; priority: number; weight: number; port: number; target: string; ttl: number }

const TYPE_CODES = { A: 1, AAAA: 28, SRV: 33 } as const

/** A minimal authoritative UDP DNS server on 127.0.0.1 answering A/AAAA/SRV from a table. */
export interface TestDnsServer {
  /** `127.0.0.1:port`, for `Resolver.setServers`. */
  readonly address: string
  /** Records per lower-case name; edit freely between queries. */
  readonly records: Map<string, DnsRecord[]>
  /** When true, every query gets SERVFAIL. */
  failing: boolean
  /** Queries received, as `name TYPE`. */
  readonly queries: string[]
  close(): Promise<void>
}

function encodeName(name: string): Buffer {
  const parts: Buffer[] = []
  for (const label of name.split('.')) {
    if (label === '') continue
    const bytes = Buffer.from(label, 'ascii')
    parts.push(Buffer.from([bytes.length]), bytes)
  }
  parts.push(Buffer.from([0]))
  return Buffer.concat(parts)
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail] = address.split('::')
  const h = head === '' ? [] : head.split(':')
  const t = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = [...h, ...Array(tail === undefined ? 0 : 8 - h.length - t.length).fill('0'), ...t]
  const out = Buffer.alloc(16)
  for (let i = 0; i < groups.length; i++) out.writeUInt16BE(Number.parseInt(groups[i], 16), i * 2)
  return out
}

function rdata(record: DnsRecord): Buffer {
  switch (record.type) {
    case 'A':
      return Buffer.from(record.address.split('.').map(Number))
    case 'AAAA':
      return ipv6Bytes(record.address)
    case 'SRV': {
      const head = Buffer.alloc(6)
      head.writeUInt16BE(record.priority, 0)
      head.writeUInt16BE(record.weight, 2)
      head.writeUInt16BE(record.port, 4)
      return Buffer.concat([head, encodeName(record.target)])
    }
  }
}

/** Starts the server on 127.0.0.1, port 0. */
export async function startDnsServer(): Promise<TestDnsServer> {
  const socket = dgram.createSocket('udp4')
  const records = new Map<string, DnsRecord[]>()
  const queries: string[] = []
  const server = {
    address: '',
    records,
    failing: false,
    queries,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  }
  socket.on('message', (message, remote) => {
    if (message.length < 12) return
    // Question: labels (queries are never compressed), then QTYPE and QCLASS.
    let offset = 12
    const labels: string[] = []
    while (offset < message.length) {
      const length = message[offset] as number
      offset++
      if (length === 0) break
      labels.push(message.toString('ascii', offset, offset + length))
      offset += length
    }
    if (offset + 4 > message.length) return
    const qtype = message.readUInt16BE(offset)
    const questionEnd = offset + 4
    const name = labels.join('.').toLowerCase()
    const typeName = (Object.keys(TYPE_CODES) as (keyof typeof TYPE_CODES)[]).find(
      (t) => TYPE_CODES[t] === qtype,
    )
    queries.push(`${name} ${typeName ?? qtype}`)
    const all = records.get(name)
    const answers = (all ?? []).filter((r) => typeName !== undefined && r.type === typeName)
    const rcode = server.failing ? 2 : all === undefined ? 3 : 0
    const header = Buffer.alloc(12)
    header.writeUInt16BE(message.readUInt16BE(0), 0)
    // QR, opcode 0, AA, RD copied, RA, rcode.
    header.writeUInt16BE(0x8400 | (message.readUInt16BE(2) & 0x0100) | 0x0080 | rcode, 2)
    header.writeUInt16BE(1, 4)
    header.writeUInt16BE(server.failing ? 0 : answers.length, 6)
    const parts: Uint8Array[] = [header, message.subarray(12, questionEnd)]
    if (!server.failing) {
      for (const record of answers) {
        const data = rdata(record)
        const fixed = Buffer.alloc(12)
        fixed.writeUInt16BE(0xc00c, 0) // pointer to the question name
        fixed.writeUInt16BE(TYPE_CODES[record.type], 2)
        fixed.writeUInt16BE(1, 4) // IN
        fixed.writeUInt32BE(record.ttl, 6)
        fixed.writeUInt16BE(data.length, 10)
        parts.push(fixed, data)
      }
    }
    socket.send(Buffer.concat(parts), remote.port, remote.address)
  })
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  server.address = `127.0.0.1:${socket.address().port}`
  return server
}

/** Adds an A or AAAA record. */
export function addressRecord(address: string, ttl: number): DnsRecord {
  return isIPv4(address) ? { type: 'A', address, ttl } : { type: 'AAAA', address, ttl }
}
