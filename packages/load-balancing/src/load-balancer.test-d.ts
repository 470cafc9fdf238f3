import { expectTypeOf, test } from 'vitest'
import type { Backend } from './backend.ts'
import { LoadBalancer } from './load-balancer.ts'
import type { BackendIter } from './selection/backend-selection.ts'
import { Consistent } from './selection/consistent.ts'
import { RoundRobin } from './selection/weighted.ts'

test('the algorithm value fixes the selection type', () => {
  expectTypeOf(LoadBalancer.tryFromIter(RoundRobin, ['1.1.1.1:443'])).toEqualTypeOf<
    LoadBalancer<RoundRobin>
  >()
  expectTypeOf(LoadBalancer.fromBackends(Consistent, [])).toEqualTypeOf<LoadBalancer<Consistent>>()
})

test('a user class with a static build is an algorithm; one without is rejected', () => {
  class Mine {
    iter(): BackendIter {
      return { next: () => undefined }
    }
    static build(_backends: readonly Backend[]): Mine {
      return new Mine()
    }
  }
  expectTypeOf(LoadBalancer.tryFromIter(Mine, [])).toEqualTypeOf<LoadBalancer<Mine>>()
  class NoBuild {
    iter(): BackendIter {
      return { next: () => undefined }
    }
  }
  // @ts-expect-error: an algorithm needs a static build
  LoadBalancer.tryFromIter(NoBuild, [])
})

test('select returns a backend or undefined', () => {
  const lb = LoadBalancer.tryFromIter(RoundRobin, [])
  expectTypeOf(lb.select(new Uint8Array(), 1)).toEqualTypeOf<Backend | undefined>()
})
