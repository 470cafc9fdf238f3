import { Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { CellHistogram } from './cell-histogram.ts'

describe('CellHistogram', () => {
  it('renders exactly what a prom-client Histogram renders for the same observations', async () => {
    const registry = new Registry()
    const buckets = [0.01, 0.1, 1]
    const ours = new CellHistogram({ name: 'x_seconds', help: 'h', buckets, registry })
    const theirs = new Histogram({
      name: 'y_seconds',
      help: 'h',
      buckets,
      labelNames: ['peer'],
      registers: [registry],
    })
    const a = ours.cell({ peer: 'a' })
    const b = ours.cell({ peer: 'b' })
    ours.cell({ peer: 'never' })
    for (const [cell, peer, value] of [
      [a, 'a', 0.005],
      [a, 'a', 0.01],
      [a, 'a', 0.5],
      [b, 'b', 7],
    ] as const) {
      cell.observe(value)
      theirs.observe({ peer }, value)
    }
    const mine = (await registry.getSingleMetricAsString('x_seconds')).replaceAll('x_', '')
    const reference = (await registry.getSingleMetricAsString('y_seconds')).replaceAll('y_', '')
    expect(mine).toBe(reference)
    expect(mine).toContain('seconds_bucket{le="0.01",peer="a"} 2')
    expect(mine).not.toContain('never')
    registry.resetMetrics()
    expect(a.count).toBe(0)
  })

  it('refuses buckets that do not ascend', () => {
    expect(
      () => new CellHistogram({ name: 'z', help: 'h', buckets: [1, 1], registry: new Registry() }),
    ).toThrow(RangeError)
  })
})
