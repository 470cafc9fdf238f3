import { defineConfig } from 'tsup'

/**
 * The one tsup preset of every published package: each package's `build` script runs
 * `tsup --config ../../tsup.config.ts` from its own directory, so the paths below are relative to
 * the package. ESM only (ADR 0002), Node 22 syntax (ADR 0018).
 */
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  target: 'node22',
  dts: true,
  sourcemap: true,
  clean: true,
  tsconfig: 'tsconfig.build.json',
})
