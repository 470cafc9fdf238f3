// ADR 0022: what a sync-or-promise `processNewHttp` could save per request that did not wait.
// Compares `await asyncFn()` with `syncFn()` plus a thenable check, 2 M calls, 3 rounds.
//   node bench/perf/sync-vs-async.mjs
const N = 2_000_000
let sink = 0

async function asyncServe(x) {
  sink += x
  return x
}

function syncServe(x) {
  sink += x
  return x
}

async function loopAsync() {
  for (let i = 0; i < N; i++) {
    const r = await asyncServe(i)
    sink ^= r
  }
}

async function loopSync() {
  for (let i = 0; i < N; i++) {
    let r = syncServe(i)
    if (r instanceof Promise) r = await r
    sink ^= r
  }
}

for (let round = 0; round < 3; round++) {
  for (const [name, fn] of [
    ['async', loopAsync],
    ['sync-or-promise', loopSync],
  ]) {
    const t0 = process.hrtime.bigint()
    await fn()
    const ns = Number(process.hrtime.bigint() - t0) / N
    process.stdout.write(`${round} ${name} ${ns.toFixed(1)} ns/call\n`)
  }
}
// Keeps the work observable so it is not optimised away.
if (sink === 0.5) process.stdout.write('unreachable\n')
