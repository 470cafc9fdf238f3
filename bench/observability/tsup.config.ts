import { defineConfig } from 'tsup'

/**
 * Bundles `examples/observability` into one file for the metrics on/off benchmark, as
 * `bench/proxy/tsup.config.ts` does for the load balancer. Output: `$PINGORA_BENCH_BUILD_DIR`.
 */
export default defineConfig({
  entry: { observability: 'examples/observability/src/main.ts' },
  // biome-ignore lint/suspicious/noUndeclaredEnvVars: not a turbo task; set by bench/observability/run.sh
  outDir: process.env.PINGORA_BENCH_BUILD_DIR ?? '/tmp/pingora-ts-bench-obs',
  format: ['esm'],
  platform: 'node',
  target: 'node22',
  bundle: true,
  noExternal: [/.*/],
  dts: false,
  sourcemap: false,
  clean: false,
  splitting: false,
  silent: true,
  banner: {
    js: "import { createRequire as __pingoraCreateRequire } from 'node:module'; const require = __pingoraCreateRequire(import.meta.url);",
  },
  esbuildOptions(options) {
    options.conditions = ['@pingora-ts/source']
  },
})
