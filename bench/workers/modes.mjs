// Compares the three ways N worker processes can share one listening port (issue 13, ADR 0015):
//   rr        node:cluster round robin: the primary accepts and hands each connection to a worker
//   shared    node:cluster SCHED_NONE: one listening socket shared by the workers, the kernel wakes one
//   reuseport each worker binds its own socket with SO_REUSEPORT (Node >= 22.12), the kernel hashes
// Usage: node bench/workers/modes.mjs MODE PORT WORKERS
// Each worker serves a small response and counts requests; on SIGUSR2 the primary prints
// `counts <n1> <n2> ...` (requests served per worker since the last print) on stdout.
import cluster from 'node:cluster'
import http from 'node:http'

const [mode, portText, workersText] = process.argv.slice(2)
const port = Number(portText)
const workers = Number(workersText ?? 2)
if (!['rr', 'shared', 'reuseport'].includes(mode ?? '') || !Number.isInteger(port)) {
  process.stderr.write('usage: node modes.mjs rr|shared|reuseport PORT [WORKERS]\n')
  process.exit(2)
}

if (cluster.isPrimary) {
  cluster.schedulingPolicy = mode === 'rr' ? cluster.SCHED_RR : cluster.SCHED_NONE
  const counts = new Array(workers).fill(0)
  const list = []
  let ready = 0
  for (let i = 0; i < workers; i++) {
    const worker = cluster.fork({ BENCH_WORKER: String(i) })
    list.push(worker)
    worker.on('message', (message) => {
      if (message === 'ready' && ++ready === workers) process.stdout.write('ready\n')
      else if (typeof message === 'object' && message !== null) counts[message.i] = message.n
    })
  }
  process.on('SIGUSR2', () => {
    let pending = workers
    const before = counts.slice()
    for (const worker of list) worker.send('count')
    const poll = setInterval(() => {
      if (counts.some((n, i) => n === before[i]) && --pending > -50) return
      clearInterval(poll)
      process.stdout.write(`counts ${counts.join(' ')}\n`)
    }, 20)
  })
  process.on('SIGTERM', () => {
    for (const worker of list) worker.kill('SIGTERM')
    process.exit(0)
  })
} else {
  const index = Number(process.env.BENCH_WORKER)
  let served = 0
  const body = Buffer.from('hello world\n')
  const server = http.createServer((_req, res) => {
    served++
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length })
    res.end(body)
  })
  server.keepAliveTimeout = 60_000
  const options = { port, host: '127.0.0.1' }
  if (mode === 'reuseport') options.reusePort = true
  server.listen(options, () => process.send('ready'))
  process.on('message', (message) => {
    if (message === 'count') process.send({ i: index, n: served })
  })
  process.on('SIGTERM', () => process.exit(0))
}
