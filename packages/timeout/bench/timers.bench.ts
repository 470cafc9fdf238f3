/**
 * Create+cancel and refresh cost of fast timers against Node's own timers.
 *
 * Every task does BATCH operations per iteration so the harness overhead (a function call and
 * a clock read per iteration) does not blur the per-operation cost. Both sides do the same
 * work: create one timer with a 10 s delay and cancel it. "steady" variants keep one other
 * timer of the same delay alive, as a busy server would, so Node keeps its per-duration list
 * and its event-loop ref instead of rebuilding them on every operation.
 *
 * Run: `cd packages/timeout && npx vitest bench --run`
 */
import { bench, describe } from 'vitest'
import { TimerManager } from '../src/timer-manager.ts'

const BATCH = 1_000
const DELAY_MS = 10_000
const noop = (): void => {}

const fast = new TimerManager()
const steadyFast = new TimerManager()
steadyFast.setTimeout(noop, 3_600_000)
const steadyNode = setTimeout(noop, DELAY_MS)
steadyNode.unref()
// Keep the steady Node timer alive for the whole run without holding the process open.
setInterval(() => steadyNode.refresh(), 1_000).unref()

describe('create + cancel (x1000)', () => {
  bench('TimerManager.setTimeout + cancel', () => {
    for (let i = 0; i < BATCH; i++) fast.setTimeout(noop, DELAY_MS).cancel()
  })
  bench('TimerManager.setTimeout + cancel (steady)', () => {
    for (let i = 0; i < BATCH; i++) steadyFast.setTimeout(noop, DELAY_MS).cancel()
  })
  bench('setTimeout + clearTimeout', () => {
    for (let i = 0; i < BATCH; i++) clearTimeout(setTimeout(noop, DELAY_MS))
  })
  bench('setTimeout + clearTimeout (steady)', () => {
    // steadyNode keeps a 10 s list and a ref'd count alive: Node's cheapest case.
    const hold = setTimeout(noop, DELAY_MS)
    for (let i = 0; i < BATCH; i++) clearTimeout(setTimeout(noop, DELAY_MS))
    clearTimeout(hold)
  })
  bench('setTimeout + unref + clearTimeout', () => {
    for (let i = 0; i < BATCH; i++) clearTimeout(setTimeout(noop, DELAY_MS).unref())
  })
  bench('AbortSignal.timeout (create only: it cannot be cancelled)', () => {
    for (let i = 0; i < BATCH; i++) AbortSignal.timeout(DELAY_MS)
  })
})

describe('refresh (x1000)', () => {
  const fastTimer = steadyFast.setTimeout(noop, DELAY_MS)
  const nodeTimer = setTimeout(noop, DELAY_MS).unref()
  bench('FastTimer.refresh', () => {
    for (let i = 0; i < BATCH; i++) fastTimer.refresh()
  })
  bench('Timeout.refresh (node)', () => {
    for (let i = 0; i < BATCH; i++) nodeTimer.refresh()
  })
})
