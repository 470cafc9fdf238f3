import type { Metric, Registry } from 'prom-client'

/**
 * One label set of a {@link CellHistogram}: observing a value is a bucket search and three
 * additions, with no allocation (prom-client's `Histogram.observe(labels, value)` builds a
 * closure, a label object and a hash string on every call).
 */
export class HistogramCell {
  /** The cell's labels. */
  readonly labels: Readonly<Record<string, string>>
  /** Observations per bucket (not cumulative); the last slot is `+Inf`. */
  readonly counts: Float64Array
  /** The sum of the observed values. */
  sum = 0
  /** How many values were observed. */
  count = 0
  readonly #bounds: Float64Array

  /** @internal */
  constructor(labels: Readonly<Record<string, string>>, bounds: Float64Array) {
    this.labels = labels
    this.#bounds = bounds
    this.counts = new Float64Array(bounds.length + 1)
  }

  /**
   * Records a value.
   * @param value - the value (seconds, for the durations)
   */
  observe(value: number): void {
    const bounds = this.#bounds
    let i = 0
    // Linear: 13 buckets, and most values fall in the first few.
    while (i < bounds.length && value > (bounds[i] as number)) i++
    this.counts[i] = (this.counts[i] as number) + 1
    this.sum += value
    this.count++
  }
}

/**
 * A Prometheus histogram made of {@link HistogramCell}s, registered in a prom-client registry
 * like its own metrics and rendered in the same text format (`_bucket` with `le`, `_sum`,
 * `_count`). Cells are created once per label set and kept by their user.
 */
export class CellHistogram {
  /** The metric name. */
  readonly name: string
  /** The help text. */
  readonly help: string
  /** The Prometheus type. */
  readonly type = 'histogram' as const
  /** How cluster workers' values are combined (prom-client's aggregator registry). */
  readonly aggregator = 'sum' as const
  readonly #bounds: Float64Array
  readonly #cells: HistogramCell[] = []

  /**
   * Creates the histogram and registers it.
   * @param options - name, help, buckets (upper bounds, ascending) and the registry
   */
  constructor(options: {
    name: string
    help: string
    buckets: readonly number[]
    registry: Registry
  }) {
    this.name = options.name
    this.help = options.help
    this.#bounds = Float64Array.from(options.buckets)
    for (let i = 1; i < this.#bounds.length; i++) {
      if ((this.#bounds[i] as number) <= (this.#bounds[i - 1] as number)) {
        throw new RangeError(`histogram buckets must ascend: ${options.buckets.join(', ')}`)
      }
    }
    // The registry takes any object with `name` and `get()`; prom-client's types only list its own.
    options.registry.registerMetric(this as unknown as Metric)
  }

  /**
   * A new cell for a label set; keep it (cells are not looked up by labels).
   * @param labels - the label set
   */
  cell(labels: Readonly<Record<string, string>>): HistogramCell {
    const cell = new HistogramCell(labels, this.#bounds)
    this.#cells.push(cell)
    return cell
  }

  /** The values in prom-client's shape (read by the registry at scrape time). */
  get(): {
    name: string
    help: string
    type: 'histogram'
    aggregator: 'sum'
    values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }>
  } {
    const values: Array<{
      labels: Record<string, string | number>
      value: number
      metricName: string
    }> = []
    const bucket = `${this.name}_bucket`
    for (const cell of this.#cells) {
      if (cell.count === 0) continue
      let cumulative = 0
      for (let i = 0; i <= this.#bounds.length; i++) {
        cumulative += cell.counts[i] as number
        const le = i < this.#bounds.length ? (this.#bounds[i] as number) : '+Inf'
        values.push({ labels: { le, ...cell.labels }, value: cumulative, metricName: bucket })
      }
      values.push({ labels: { ...cell.labels }, value: cell.sum, metricName: `${this.name}_sum` })
      values.push({
        labels: { ...cell.labels },
        value: cell.count,
        metricName: `${this.name}_count`,
      })
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    }
  }

  /** Zeroes every cell (`registry.resetMetrics()`). */
  reset(): void {
    for (const cell of this.#cells) {
      cell.counts.fill(0)
      cell.sum = 0
      cell.count = 0
    }
  }
}
