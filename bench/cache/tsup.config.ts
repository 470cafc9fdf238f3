import { benchBundle } from '../tsup-bundle.ts'

/** The cache example as one file for the hit-path benchmark: `cache.js`. */
export default benchBundle({ cache: 'examples/cache/src/main.ts' }, '/tmp/pingora-ts-bench-cache')
