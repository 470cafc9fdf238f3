import { bench, describe } from 'vitest'
import { Backend } from '../src/backend.ts'
import { LoadBalancer } from '../src/load-balancer.ts'
import type {
  BackendSelection,
  BackendSelectionBuilder,
} from '../src/selection/backend-selection.ts'
import { Consistent } from '../src/selection/consistent.ts'
import { LeastConnections } from '../src/selection/least-connections.ts'
import { PowerOfTwoChoices } from '../src/selection/power-of-two-choices.ts'
import { SmoothWeightedRoundRobin } from '../src/selection/smooth-weighted-round-robin.ts'
import { FNVHash, Random, RoundRobin } from '../src/selection/weighted.ts'

const ALGORITHMS: [string, BackendSelectionBuilder<BackendSelection>][] = [
  ['RoundRobin', RoundRobin],
  ['Random', Random],
  ['FNVHash', FNVHash],
  ['Consistent', Consistent],
  ['SmoothWeightedRoundRobin', SmoothWeightedRoundRobin],
  ['LeastConnections', LeastConnections],
  ['PowerOfTwoChoices', PowerOfTwoChoices],
]

const encoder = new TextEncoder()
const KEYS = Array.from({ length: 1024 }, (_, i) => encoder.encode(`/assets/${i}/app.js`))

function backends(n: number): Backend[] {
  return Array.from({ length: n }, (_, i) =>
    Backend.newWithWeight(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8080`, 1 + (i % 3)),
  )
}

for (const size of [10, 1000]) {
  describe(`select, ${size} backends`, () => {
    for (const [name, algorithm] of ALGORITHMS) {
      const lb = LoadBalancer.fromBackends(algorithm, backends(size))
      let i = 0
      bench(name, () => {
        lb.select(KEYS[i++ & 1023] as Uint8Array, 256)
      })
    }
  })
}

describe('selectLease + release, 10 backends', () => {
  const loadAware: [string, BackendSelectionBuilder<BackendSelection>][] = [
    ['LeastConnections', LeastConnections],
    ['PowerOfTwoChoices', PowerOfTwoChoices],
  ]
  for (const [name, algorithm] of loadAware) {
    const lb = LoadBalancer.fromBackends(algorithm, backends(10))
    bench(name, () => {
      lb.selectLease(KEYS[0] as Uint8Array, 256)?.release()
    })
  }
})
