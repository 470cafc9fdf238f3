import { defineConfig, type Options } from 'tsup'

/**
 * The tsup options every benchmark bundle shares: one ESM file per entry, bundled from the
 * TypeScript sources (the `@pingora-ts/source` condition) with the packages' own esbuild target,
 * so a run needs neither `pnpm build` nor tsx at run time. Output: `$PINGORA_BENCH_BUILD_DIR`,
 * else `defaultOutDir`.
 * @param entry - output name to source file, e.g. `{ 'load-balancer': 'examples/load-balancer/src/main.ts' }`
 * @param defaultOutDir - where the bundle goes when `PINGORA_BENCH_BUILD_DIR` is not set
 */
export function benchBundle(entry: Record<string, string>, defaultOutDir: string): Options {
  return defineConfig({
    entry,
    // biome-ignore lint/suspicious/noUndeclaredEnvVars: not a turbo task; set by the bench scripts
    outDir: process.env.PINGORA_BENCH_BUILD_DIR ?? defaultOutDir,
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
    // CommonJS dependencies bundled into ESM (yaml) call `require` for Node built-ins: give the
    // bundle a real one.
    banner: {
      js: "import { createRequire as __pingoraCreateRequire } from 'node:module'; const require = __pingoraCreateRequire(import.meta.url);",
    },
    esbuildOptions(options) {
      options.conditions = ['@pingora-ts/source']
    },
  }) as Options
}
