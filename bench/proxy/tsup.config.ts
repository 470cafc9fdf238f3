import { benchBundle } from '../tsup-bundle.ts'

/** The load-balancer example as one file for the proxy benchmarks (`bench/perf/build.sh`). */
export default benchBundle(
  { 'load-balancer': 'examples/load-balancer/src/main.ts' },
  '/tmp/pingora-ts-bench',
)
