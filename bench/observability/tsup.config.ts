import { benchBundle } from '../tsup-bundle.ts'

/** The observability example as one file for the metrics and tracing cost benchmark. */
export default benchBundle(
  { observability: 'examples/observability/src/main.ts' },
  '/tmp/pingora-ts-bench-obs',
)
