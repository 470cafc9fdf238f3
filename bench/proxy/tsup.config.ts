import { defineConfig } from 'tsup'

/**
 * Builds the load-balancer example into one JavaScript file for the benchmark: the same
 * esbuild transform and `node20` target as the packages' own tsup builds, bundled from the
 * TypeScript sources (the `@pingora-ts/source` condition), so a run needs neither `pnpm build`
 * nor tsx at run time. Output: `$PINGORA_BENCH_BUILD_DIR` (default `/tmp/pingora-ts-bench`).
 */
export default defineConfig({
  entry: { 'load-balancer': 'examples/load-balancer/src/main.ts' },
  // biome-ignore lint/suspicious/noUndeclaredEnvVars: not a turbo task; set by bench/proxy/run.sh
  outDir: process.env.PINGORA_BENCH_BUILD_DIR ?? '/tmp/pingora-ts-bench',
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
  // CommonJS dependencies bundled into ESM (yaml) call `require` for Node built-ins: give the
  // bundle a real one.
  banner: {
    js: "import { createRequire as __pingoraCreateRequire } from 'node:module'; const require = __pingoraCreateRequire(import.meta.url);",
  },
  esbuildOptions(options) {
    options.conditions = ['@pingora-ts/source']
  },
})
