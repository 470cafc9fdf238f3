// Memory per HTTP/2 connection of pingora-ts's load balancer on both downstream engines
// (`node`: node:http2, `native`: our own frame layer, ADR 0026) against nginx and haproxy, h2c.
// For each target, fresh, pinned to CPU 0 (the nginx origin on CPU 1):
//   idle    N connections (default 1 000), each served one GET /small, then left open
//   upload  C connections x S streams (default 100 x 10) each sending a POST /upload of which
//           16 KiB were written and the end not yet (the streams stay open at the proxy)
//   stalled C x S streams of GET /8m whose client does not read (stream window 64 KiB; what the
//           proxy buffers for a slow reader: bounded, or the body's 8 MiB)
// Reported: RSS of the target's process tree (VmRSS, /proc) above its level after one request,
// and for Node targets the JS heap + external memory after a full GC (mem-probe.mjs), per
// 1 000 connections (idle) or per 1 000 streams (upload, stalled). Run it under
// `flock /tmp/bench.lock`:
//   node bench/h2/memory.mjs BUNDLE_DIR [--reps 2] [--conns 1000] [--active 100x10] [--only nginx,native]
//     [--port 28581] [--origin-port 28580]
import { spawn } from 'node:child_process'
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import http2 from 'node:http2'
import net from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const opt = (name, fallback) => {
  const at = args.indexOf(`--${name}`)
  return at === -1 ? fallback : args[at + 1]
}
const bundle = resolve(args[0] ?? '')
if (
  args[0] === undefined ||
  !statSync(join(bundle, 'load-balancer.js'), { throwIfNoEntry: false })
) {
  process.stderr.write(
    'usage: node bench/h2/memory.mjs BUNDLE_DIR [--reps N] [--conns N] [--active CxS]\n',
  )
  process.exit(2)
}
const REPS = Number(opt('reps', '2'))
const IDLE = Number(opt('conns', '1000'))
const [ACTIVE_CONNS, ACTIVE_STREAMS] = opt('active', '100x10').split('x').map(Number)
const ORIGIN_PORT = Number(opt('origin-port', '28580'))
const PORT = Number(opt('port', '28581'))
const out = mkdtempSync('/tmp/h2-mem-bench.')

// A peer's reset of a connection torn down between phases is not a failure of the
// measurement (every request that is measured is checked); count them.
let stray = 0
process.on('uncaughtException', (error) => {
  if (error?.code !== 'ECONNRESET') throw error
  stray++
})

// ---- processes
const leaders = []
function start(cpu, log, command) {
  writeFileSync(log, `${command}\n`)
  const child = spawn('taskset', ['-c', String(cpu), 'bash', '-c', `${command} >> '${log}' 2>&1`], {
    detached: true,
    stdio: 'ignore',
  })
  leaders.push(child.pid)
  return child
}
function stop(child) {
  try {
    process.kill(-child.pid, 'SIGKILL')
  } catch {}
  return new Promise((done) => (child.exitCode !== null ? done() : child.once('exit', done)))
}
process.on('exit', () => {
  for (const pid of leaders) {
    try {
      process.kill(-pid, 'SIGKILL')
    } catch {}
  }
})
/** Whether something accepts connections on 127.0.0.1:`port`. */
function isOpen(port) {
  return new Promise((done) => {
    const s = net.connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      done(true)
    })
    s.once('error', () => done(false))
  })
}
/** Waits until `port` is open (`open`) or free (a killed nginx's worker may outlive its master). */
async function waitPortState(port, open, ms = 20_000) {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if ((await isOpen(port)) === open) return
    await delay(50)
  }
  throw new Error(`port ${port} is still ${open ? 'closed' : 'in use'}`)
}
const waitFree = (port, ms) => waitPortState(port, false, ms)
const waitPort = (port, ms) => waitPortState(port, true, ms)
function treePids(root) {
  const kids = new Map()
  for (const dir of readdirSync('/proc')) {
    if (!/^\d+$/.test(dir)) continue
    try {
      const stat = readFileSync(`/proc/${dir}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (!kids.has(ppid)) kids.set(ppid, [])
      kids.get(ppid).push(Number(dir))
    } catch {}
  }
  const all = [root]
  for (let i = 0; i < all.length; i++) all.push(...(kids.get(all[i]) ?? []))
  return all
}
function treeRssKib(root) {
  let total = 0
  for (const pid of treePids(root)) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
      if (m) total += Number(m[1])
    } catch {}
  }
  return total
}
/** Heap + external after a full GC, from the target's mem-probe (Node targets only). */
async function probeHeap(root) {
  const node = treePids(root).find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'node'
    } catch {
      return false
    }
  })
  if (node === undefined) return undefined
  const file = `/tmp/h2-mem-probe-${node}.json`
  rmSync(file, { force: true })
  process.kill(node, 'SIGUSR2')
  for (let i = 0; i < 200; i++) {
    await delay(25)
    try {
      const m = JSON.parse(readFileSync(file, 'utf8'))
      return m.heapUsed + m.external
    } catch {}
  }
  return undefined
}
async function measure(child) {
  const heap = await probeHeap(child.pid) // the GC first, then RSS
  await delay(300)
  return { rss: treeRssKib(child.pid) * 1024, heap }
}

// ---- clients
const url = `http://127.0.0.1:${PORT}`
function connect() {
  return new Promise((done, fail) => {
    const session = http2.connect(url)
    session.once('connect', () => {
      session.off('error', fail)
      session.on('error', () => {}) // a reset after the measurement, on close: not an error here
      done(session)
    })
    session.once('error', fail)
  })
}
function get(session, path) {
  return new Promise((done, fail) => {
    const req = session.request({ ':path': path })
    let bytes = 0
    req.on('data', (chunk) => (bytes += chunk.length))
    req.once('end', () => done(bytes))
    req.once('error', fail)
    req.end()
  })
}
async function openIdle(n) {
  const sessions = []
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, async () => {
        const s = await connect()
        const bytes = await get(s, '/small')
        if (bytes !== 13) throw new Error(`GET /small gave ${bytes} bytes`)
        return s
      }),
    )
    sessions.push(...batch)
  }
  return sessions
}
const piece = Buffer.alloc(16 * 1024, 'u')
async function openUploads(conns, streams) {
  const sessions = []
  const reqs = []
  for (let i = 0; i < conns; i++) {
    const s = await connect()
    sessions.push(s)
    for (let j = 0; j < streams; j++) {
      const req = s.request({
        ':method': 'POST',
        ':path': '/upload',
        'content-length': String(1024 * 1024),
      })
      req.on('error', () => {})
      req.resume()
      reqs.push(new Promise((done) => req.write(piece, done)))
    }
  }
  await Promise.all(reqs)
  return sessions
}
async function openStalled(conns, streams) {
  const sessions = []
  const heads = []
  for (let i = 0; i < conns; i++) {
    const s = await connect()
    sessions.push(s)
    for (let j = 0; j < streams; j++) {
      const req = s.request({ ':path': '/8m' })
      req.on('error', () => {})
      req.pause() // never read: the stream window (64 KiB) fills and stays full
      heads.push(new Promise((done) => req.once('response', done)))
    }
  }
  await Promise.all(heads)
  return sessions
}
async function closeAll(sessions) {
  await Promise.all(
    sessions.map(
      (s) =>
        new Promise((done) => {
          s.once('close', done)
          s.destroy()
        }),
    ),
  )
}

// ---- origin and targets
mkdirSync(join(out, 'origin/www'), { recursive: true })
writeFileSync(join(out, 'origin/www/64k.bin'), Buffer.alloc(65536, 'x'))
writeFileSync(join(out, 'origin/www/1m.bin'), Buffer.alloc(1048576, 'y'))
writeFileSync(join(out, 'origin/www/8m.bin'), Buffer.alloc(8 * 1048576, 'z'))
writeFileSync(join(out, 'origin/www/upload'), '')
const originConf = readFileSync('/work/shared/bench/conf/origin.nginx.conf.tmpl', 'utf8')
  .replaceAll('@RUN@', join(out, 'origin'))
  .replaceAll('@ORIGIN_PORT@', String(ORIGIN_PORT))
  .replaceAll('@ORIGIN_H2_PORT@', String(ORIGIN_PORT + 2))
  .replace(
    /^( *)location = \/64k .*$/m,
    (line, indent) =>
      `${line}\n${indent}location = /1m { default_type application/octet-stream; try_files /1m.bin =404; }\n${indent}location = /8m { default_type application/octet-stream; try_files /8m.bin =404; }`,
  )
writeFileSync(join(out, 'origin/nginx.conf'), originConf)
const origin = start(
  1,
  join(out, 'origin.log'),
  `exec nginx -p '${out}/origin/' -e '${out}/origin/error.log' -c '${out}/origin/nginx.conf' -g 'daemon off;'`,
)
await waitPort(ORIGIN_PORT)

const upstream = `127.0.0.1:${ORIGIN_PORT}`
mkdirSync(join(out, 'nginx'), { recursive: true })
writeFileSync(
  join(out, 'nginx/nginx.conf'),
  readFileSync('/work/shared/bench/conf/proxy.nginx.conf.tmpl', 'utf8')
    .replaceAll('@PORT@', String(PORT))
    .replaceAll('@LISTEN_OPTS@', 'http2')
    .replaceAll('@UPSTREAM@', upstream)
    .replaceAll('@RUN@', join(out, 'nginx'))
    .replaceAll('@BODY_BUF@', '64k'),
)
mkdirSync(join(out, 'haproxy'), { recursive: true })
writeFileSync(
  join(out, 'haproxy/haproxy.cfg'),
  readFileSync('/work/shared/bench/conf/proxy.haproxy.cfg.tmpl', 'utf8')
    .replaceAll('@PORT@', String(PORT))
    .replaceAll('@BIND_OPTS@', 'proto h2')
    .replaceAll('@UPSTREAM@', upstream)
    .replaceAll('@BUFSIZE@', '16384')
    .replace('maxconn 4096', 'maxconn 8192'),
)
const probe = join(here, 'mem-probe.mjs')
const lb = `exec node --expose-gc --import '${probe}' '${bundle}/load-balancer.js' --listen 127.0.0.1:${PORT} --upstream ${upstream} --h2c`
const targets = {
  nginx: `exec nginx -p '${out}/nginx/' -e '${out}/nginx/error.log' -c '${out}/nginx/nginx.conf' -g 'daemon off;'`,
  haproxy: `exec haproxy -f '${out}/haproxy/haproxy.cfg' -db`,
  node: lb,
  native: `${lb} --h2-engine native`,
}

const only = opt('only', undefined)
if (only !== undefined)
  for (const name of Object.keys(targets)) if (!only.split(',').includes(name)) delete targets[name]
const rows = []
const mb = (bytes) => (bytes === undefined ? 'NA' : (bytes / 1048576).toFixed(1))
process.stdout.write(`load at start: ${readFileSync('/proc/loadavg', 'utf8')}`)
for (let rep = 1; rep <= REPS; rep++) {
  for (const [name, command] of Object.entries(targets)) {
    await waitFree(PORT)
    const child = start(0, join(out, `${rep}-${name}.log`), command)
    await waitPort(PORT)
    const warm = await connect()
    for (let i = 0; i < 50; i++) await get(warm, '/small')
    await closeAll([warm])
    const base = await measure(child)
    const row = { rep, name, base }
    const idle = await openIdle(IDLE)
    row.idle = await measure(child)
    await closeAll(idle)
    const back = await measure(child)
    row.idleBack = back
    const uploads = await openUploads(ACTIVE_CONNS, ACTIVE_STREAMS)
    row.upload = await measure(child)
    await closeAll(uploads)
    const back2 = await measure(child)
    const stalled = await openStalled(ACTIVE_CONNS, ACTIVE_STREAMS)
    row.stalled = await measure(child)
    row.stalledBase = back2
    await closeAll(stalled)
    await stop(child)
    rows.push(row)
    const per = (a, b, n) => (a === undefined || b === undefined ? undefined : ((a - b) * 1000) / n)
    const streams = ACTIVE_CONNS * ACTIVE_STREAMS
    row.perIdle = {
      rss: per(row.idle.rss, base.rss, IDLE),
      heap: per(row.idle.heap, base.heap, IDLE),
    }
    row.perUpload = {
      rss: per(row.upload.rss, back.rss, streams),
      heap: per(row.upload.heap, back.heap, streams),
    }
    row.perStalled = {
      rss: per(row.stalled.rss, back2.rss, streams),
      heap: per(row.stalled.heap, back2.heap, streams),
    }
    process.stdout.write(
      `${rep}\t${name}\tbase rss ${mb(base.rss)} MB heap ${mb(base.heap)} MB\t` +
        `idle/1000 conns: rss ${mb(row.perIdle.rss)} heap ${mb(row.perIdle.heap)}\t` +
        `upload/1000 streams: rss ${mb(row.perUpload.rss)} heap ${mb(row.perUpload.heap)}\t` +
        `stalled/1000 streams: rss ${mb(row.perStalled.rss)} heap ${mb(row.perStalled.heap)}\n`,
    )
  }
}
await stop(origin)
writeFileSync(join(out, 'results.json'), JSON.stringify(rows, null, 1))

const median = (xs) => {
  const v = xs.filter((x) => x !== undefined).sort((a, b) => a - b)
  if (v.length === 0) return undefined
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
}
const names = Object.keys(targets)
const med = (name, key, field) =>
  median(rows.filter((r) => r.name === name).map((r) => r[key][field]))
process.stdout.write(
  `\nMB per 1 000 idle connections (${IDLE} opened) / per 1 000 open streams (${ACTIVE_CONNS} x ${ACTIVE_STREAMS}), medians of ${REPS}; ratio of RSS to nginx's\n`,
)
process.stdout.write(
  'target    base RSS  idle RSS  idle heap  vs nginx  upload RSS  upload heap  stalled RSS  stalled heap\n',
)
for (const name of names) {
  const r = (k, f) => med(name, k, f)
  const ratio = r('perIdle', 'rss') / med('nginx', 'perIdle', 'rss')
  process.stdout.write(
    `${name.padEnd(9)} ${mb(median(rows.filter((x) => x.name === name).map((x) => x.base.rss))).padStart(8)}` +
      ` ${mb(r('perIdle', 'rss')).padStart(9)} ${mb(r('perIdle', 'heap')).padStart(10)} ${ratio.toFixed(2).padStart(8)}x` +
      ` ${mb(r('perUpload', 'rss')).padStart(11)} ${mb(r('perUpload', 'heap')).padStart(12)}` +
      ` ${mb(r('perStalled', 'rss')).padStart(12)} ${mb(r('perStalled', 'heap')).padStart(13)}\n`,
  )
}
process.stdout.write(`stray connection resets: ${stray}\n`)
process.stdout.write(
  `load at end: ${readFileSync('/proc/loadavg', 'utf8')}raw: ${out}/results.json\n`,
)
process.exit(0)
