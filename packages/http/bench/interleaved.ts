// Runs the header workloads interleaved, round after round, and keeps each one's best round:
// a steadier comparison than sequential runs when the machine is shared.
// Usage: npx tsx bench/interleaved.ts [rounds]
import { BUILD, PARSED, sink, type Workload } from './workloads.ts'

const ROUNDS = Number(process.argv[2] ?? 200)
const ITERATIONS = 2_000

function measure(title: string, workloads: Workload[]): void {
  const best = workloads.map(() => Number.POSITIVE_INFINITY)
  for (const workload of workloads) for (let i = 0; i < ITERATIONS * 50; i++) workload.run()
  for (let round = 0; round < ROUNDS; round++) {
    for (let w = 0; w < workloads.length; w++) {
      const run = (workloads[w] as Workload).run
      const start = process.hrtime.bigint()
      for (let i = 0; i < ITERATIONS; i++) run()
      const ns = Number(process.hrtime.bigint() - start) / ITERATIONS
      if (ns < (best[w] as number)) best[w] = ns
    }
  }
  const ours = best[0] as number
  process.stdout.write(`\n${title} (best of ${ROUNDS} rounds)\n`)
  for (let w = 0; w < workloads.length; w++) {
    const ns = best[w] as number
    const name = (workloads[w] as Workload).name.padEnd(58)
    process.stdout.write(
      `  ${name} ${ns.toFixed(0).padStart(6)} ns/op  ${(ns / ours).toFixed(2)}x ours\n`,
    )
  }
}

measure('build + insert + lookup + serialize a 15-header request', BUILD)
measure('parser path: wrap parsed arrays + lookup + serialize', PARSED)
if (sink === -1) process.stdout.write('unreachable\n')
