import { bench, describe } from 'vitest'
import { BUILD, H2, PARSED, type Workload } from './workloads.ts'

// Sequential vitest bench. On a loaded machine prefer `npx tsx bench/interleaved.ts`, which
// alternates the workloads and keeps each one's best round.
function group(title: string, workloads: Workload[]): void {
  describe(title, () => {
    for (const workload of workloads) bench(workload.name, workload.run)
  })
}

group('build + insert + lookup + serialize a 15-header request', BUILD)
group('parser path: wrap parsed arrays + lookup + serialize', PARSED)
group('HTTP/2 conversion of a 15-header request', H2)
