import { defineConfig } from 'vitest/config'

/**
 * The one vitest preset every package extends.
 *
 * - Sibling packages resolve to their TypeScript sources through the `@pingora-ts/source`
 *   export condition, so tests never need a build.
 * - Each run writes a JSON report to `reports/vitest-<tag>.json`; `.ci/run` sums them.
 */
const tag = process.env.PINGORA_TEST_TAG ?? `node${process.versions.node.split('.')[0]}`

export default defineConfig({
  resolve: { conditions: ['@pingora-ts/source'] },
  ssr: { resolve: { conditions: ['@pingora-ts/source'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: ['default', 'json'],
    outputFile: { json: `reports/vitest-${tag}.json` },
    typecheck: { enabled: false },
  },
})
