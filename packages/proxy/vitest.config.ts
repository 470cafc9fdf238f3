import { defineConfig, mergeConfig } from 'vitest/config'
import shared from '../../vitest.shared.ts'

// The type tests (`*.test-d.ts`) run with the other tests: a `@ts-expect-error` that stops
// failing is reported as a test failure.
export default mergeConfig(
  shared,
  defineConfig({
    test: {
      typecheck: { enabled: true, include: ['src/**/*.test-d.ts', 'test/**/*.test-d.ts'] },
    },
  }),
)
