import { benchBundle } from '../tsup-bundle.ts'

/** The compression bench's proxy as one file: `gzip-proxy.js`. */
export default benchBundle(
  { 'gzip-proxy': 'bench/compression/proxy.ts' },
  '/tmp/pingora-ts-gzip-bench',
)
