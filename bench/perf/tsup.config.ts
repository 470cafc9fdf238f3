import { defineConfig } from 'tsup'

/**
 * Bundles the load-balancer example from the TypeScript sources into one file for profiling
 * and benchmarking (esbuild, `node20` target, `@pingora-ts/source` condition).
 * Output: `$PINGORA_BENCH_BUILD_DIR` (default `/tmp/pingora-ts-perf`).
 */
export default defineConfig({
  entry: { 'load-balancer': 'examples/load-balancer/src/main.ts' },
  outDir: process.env.PINGORA_BENCH_BUILD_DIR ?? '/tmp/pingora-ts-perf',
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  bundle: true,
  noExternal: [/.*/],
  dts: false,
  sourcemap: false,
  clean: false,
  splitting: false,
  silent: true,
  esbuildOptions(options) {
    options.conditions = ['@pingora-ts/source']
  },
})
