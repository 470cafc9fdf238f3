import dgram from 'node:dgram'

/** A tiny authoritative DNS server for tests: answers every A query with an address derived from the name. */
export interface TestDnsServer {
  /** `127.0.0.1:<port>` */
  readonly address: string
  /** Queries answered so far. */
  readonly answered: () => number
  /** Stops it. */
  close(): Promise<void>
}

/**
 * The address the server answers for `name`: `10.a.b.c`, where `a.b.c` are the name's first
 * three labels' numbers when the name looks like `c<client>-q<query>.test`, else `192.0.2.1`.
 */
export function addressFor(name: string): string {
  const match = /^c(\d+)-q(\d+)\.test$/.exec(name)
  if (match === null) return '192.0.2.1'
  const client = Number(match[1])
  const query = Number(match[2])
  return `10.${client & 0xff}.${(query >> 8) & 0xff}.${query & 0xff}`
}

/** Builds an A query for `name` (RD set). */
export function encodeQuery(id: number, name: string): Buffer {
  const labels = name.split('.').map((label) => {
    const bytes = Buffer.from(label, 'ascii')
    return Buffer.concat([Buffer.from([bytes.length]), bytes])
  })
  const header = Buffer.alloc(12)
  header.writeUInt16BE(id, 0)
  header.writeUInt16BE(0x0100, 2) // RD
  header.writeUInt16BE(1, 4) // QDCOUNT
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])]) // QTYPE A, QCLASS IN
}

/** The parts of a DNS message this test server and its clients use. */
export interface DnsMessage {
  readonly id: number
  readonly isResponse: boolean
  readonly name: string
  /** The first A record's address, if any. */
  readonly answer: string | undefined
  /** Where the question ends. */
  readonly questionEnd: number
}

/** Parses a query or a response made by this module (uncompressed question, one A answer). */
export function decodeMessage(message: Buffer): DnsMessage | undefined {
  if (message.length < 12) return undefined
  const id = message.readUInt16BE(0)
  const isResponse = (message[2] as number) >> 7 === 1
  const labels: string[] = []
  let p = 12
  for (;;) {
    const length = message[p]
    if (length === undefined || length > 63) return undefined
    p++
    if (length === 0) break
    labels.push(message.toString('ascii', p, p + length))
    p += length
  }
  const questionEnd = p + 4
  if (questionEnd > message.length) return undefined
  let answer: string | undefined
  // Answer: name pointer (2) type (2) class (2) ttl (4) rdlength (2) rdata (4).
  if (isResponse && message.readUInt16BE(6) >= 1 && message.length >= questionEnd + 16) {
    const rdata = questionEnd + 12
    answer = `${message[rdata]}.${message[rdata + 1]}.${message[rdata + 2]}.${message[rdata + 3]}`
  }
  return { id, isResponse, name: labels.join('.'), answer, questionEnd }
}

function answerFor(query: Buffer): Buffer | undefined {
  const parsed = decodeMessage(query)
  if (parsed === undefined || parsed.isResponse) return undefined
  const header = Buffer.alloc(12)
  header.writeUInt16BE(parsed.id, 0)
  header.writeUInt16BE(0x8580, 2) // QR, AA, RD, RA
  header.writeUInt16BE(1, 4) // QDCOUNT
  header.writeUInt16BE(1, 6) // ANCOUNT
  const question = query.subarray(12, parsed.questionEnd)
  const record = Buffer.alloc(16)
  record.writeUInt16BE(0xc00c, 0) // pointer to the question's name
  record.writeUInt16BE(1, 2) // A
  record.writeUInt16BE(1, 4) // IN
  record.writeUInt32BE(60, 6) // TTL
  record.writeUInt16BE(4, 10)
  const octets = addressFor(parsed.name).split('.').map(Number)
  for (let i = 0; i < 4; i++) record[12 + i] = octets[i] as number
  return Buffer.concat([header, question, record])
}

/** Starts the server on 127.0.0.1 (a free port). */
export function startDnsServer(): Promise<TestDnsServer> {
  const socket = dgram.createSocket('udp4')
  let answered = 0
  socket.on('message', (query, from) => {
    const answer = answerFor(query)
    if (answer === undefined) return
    answered++
    socket.send(answer, from.port, from.address)
  })
  return new Promise((resolve) => {
    socket.bind(0, '127.0.0.1', () => {
      resolve({
        address: `127.0.0.1:${socket.address().port}`,
        answered: () => answered,
        close: () => new Promise<void>((done) => socket.close(() => done())),
      })
    })
  })
}
