/**
 * CPU time per request of an HTTP/1 client loop: Http1ClientSession (`session`) against undici's
 * Pool (`undici`), both keeping 20 connections busy against an origin for a few seconds.
 * Run with a Node that strips types (>= 22.6), against any origin (nginx is the fairest):
 *   node --conditions=@pingora-ts/source bench/http1-client-cpu.ts session|undici PORT [SECONDS]
 * Prints requests/s and CPU microseconds per request (process.cpuUsage, user + system).
 */
import net from 'node:net'
import { RequestHeader } from '@pingora-ts/http'
import { Pool } from 'undici'
import { Http1ClientSession } from '../src/protocols/http1/client.ts'
import { Stream } from '../src/protocols/l4/stream.ts'

const kind = process.argv[2] ?? 'session'
const port = Number(process.argv[3])
const seconds = Number(process.argv[4] ?? 5)
const CONNECTIONS = 20
let done = 0
let stop = false

async function sessionWorker(): Promise<void> {
  let stream: Stream | undefined
  while (!stop) {
    let reused = true
    if (stream === undefined) {
      reused = false
      const socket = net.connect(port, '127.0.0.1')
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve)
        socket.once('error', reject)
      })
      stream = new Stream(socket, 'upstream')
    }
    const session: Http1ClientSession = new Http1ClientSession(stream, { reused })
    const request = RequestHeader.build('GET', '/')
    request.insertHeader('Host', '127.0.0.1')
    await session.writeRequestHeader(request)
    await session.readResponseHeader()
    while ((await session.readResponseBody()) !== undefined) {
      // discard
    }
    stream = session.reuse()
    done++
  }
  stream?.destroy()
}

async function undiciWorker(pool: Pool): Promise<void> {
  while (!stop) {
    const response = await pool.request({ path: '/', method: 'GET' })
    await response.body.dump()
    done++
  }
}

const pool =
  kind === 'undici' ? new Pool(`http://127.0.0.1:${port}`, { connections: CONNECTIONS }) : undefined
const workers: Array<Promise<void>> = []
for (let i = 0; i < CONNECTIONS; i++) {
  workers.push(pool === undefined ? sessionWorker() : undiciWorker(pool))
}
// Warm up, then measure.
await new Promise<void>((resolve) => setTimeout(resolve, 1000))
const startDone = done
const startCpu = process.cpuUsage()
const startTime = performance.now()
await new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000))
const cpu = process.cpuUsage(startCpu)
const elapsed = (performance.now() - startTime) / 1000
const requests = done - startDone
stop = true
await Promise.all(workers)
await pool?.close()
const rps = Math.round(requests / elapsed)
const perRequest = ((cpu.user + cpu.system) / requests).toFixed(2)
process.stdout.write(`${kind} req/s ${rps} cpu/request ${perRequest} us\n`)
