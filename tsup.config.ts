import { readFileSync } from 'node:fs'
import { defineConfig } from 'tsup'

/** The entry files of the package built from the current directory: every `@pingora-ts/source` target of its exports map (`.` and subpaths such as `./testing`). */
function entries(): string[] {
  const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as {
    exports?: Record<string, string | Record<string, string>>
  }
  const found: string[] = []
  for (const target of Object.values(manifest.exports ?? {})) {
    const source = typeof target === 'object' ? target['@pingora-ts/source'] : undefined
    if (source !== undefined) found.push(source.replace(/^\.\//, ''))
  }
  return found.length > 0 ? found : ['src/index.ts']
}

/**
 * The one tsup preset of every published package: each package's `build` script runs
 * `tsup --config ../../tsup.config.ts` from its own directory, so the paths below are relative to
 * the package. ESM only (ADR 0002), Node 22 syntax (ADR 0018). The entries come from the
 * package's exports map, so a subpath export (`@pingora-ts/proxy/testing`) is built too.
 */
export default defineConfig({
  entry: entries(),
  format: ['esm'],
  target: 'node22',
  dts: true,
  sourcemap: true,
  clean: true,
  tsconfig: 'tsconfig.build.json',
})
