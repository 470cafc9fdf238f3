import { defineConfig } from 'tsup'

/**
 * Bundles the compression bench's proxy into `$PINGORA_BENCH_BUILD_DIR/gzip-proxy.js` from the
 * TypeScript sources (the same settings as bench/proxy/tsup.config.ts).
 */
export default defineConfig({
  entry: { 'gzip-proxy': 'bench/compression/proxy.ts' },
  // biome-ignore lint/suspicious/noUndeclaredEnvVars: not a turbo task; set by run.sh
  outDir: process.env.PINGORA_BENCH_BUILD_DIR ?? '/tmp/pingora-ts-gzip-bench',
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
