import { defineConfig } from 'tsup'

/**
 * Builds the cache example into one JavaScript file for the hit-path benchmark (the same
 * settings as `bench/proxy/tsup.config.ts`): `$PINGORA_BENCH_BUILD_DIR/cache.js`.
 */
export default defineConfig({
  entry: { cache: 'examples/cache/src/main.ts' },
  // biome-ignore lint/suspicious/noUndeclaredEnvVars: not a turbo task; set by bench/cache/build.sh
  outDir: process.env.PINGORA_BENCH_BUILD_DIR ?? '/tmp/pingora-ts-bench-cache',
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
  banner: {
    js: "import { createRequire as __pingoraCreateRequire } from 'node:module'; const require = __pingoraCreateRequire(import.meta.url);",
  },
  esbuildOptions(options) {
    options.conditions = ['@pingora-ts/source']
  },
})
