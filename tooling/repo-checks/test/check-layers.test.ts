import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { checkLayers, stripComments } from '../../../scripts/check-layers.mjs'
import { editPackage, LAYERS, makeFixture, runCheckLayers, write } from './repo.ts'

function fixture(): string {
  const root = makeFixture()
  onTestFinished(() => rmSync(root, { recursive: true, force: true }))
  return root
}

function expectFailure(root: string, ...messages: string[]): void {
  const result = runCheckLayers(root)
  expect(result.status).toBe(1)
  expect(result.stderr).toContain('layer check failed:')
  for (const message of messages) expect(result.stderr).toContain(message)
}

describe('scripts/check-layers.mjs', () => {
  it('passes on the repository itself, run with no arguments', () => {
    const result = runCheckLayers()
    expect(result.stderr).toBe('')
    expect(result.stdout).toBe('layer check: ok\n')
    expect(result.status).toBe(0)
  })

  it('passes on a tree where every package uses everything its layer allows', () => {
    const root = fixture()
    expect(checkLayers(root)).toEqual([])
    const result = runCheckLayers(root)
    expect(result.stdout).toBe('layer check: ok\n')
    expect(result.status).toBe(0)
  })

  it('fails on an upward dependency in package.json and names it', () => {
    const root = fixture()
    editPackage(root, 'error', (pkg) => {
      pkg.dependencies = { '@pingora-ts/http': 'workspace:^' }
    })
    expectFailure(root, 'packages/error: dependencies on @pingora-ts/http is not allowed')
  })

  it('fails on an upward import in a source file and names the file', () => {
    const root = fixture()
    write(
      join(root, 'packages/http/src/client.ts'),
      "import type { Stream } from '@pingora-ts/core'\nexport type S = Stream\n",
    )
    expectFailure(
      root,
      'packages/http/src/client.ts: imports @pingora-ts/core, not allowed for http',
    )
  })

  it('fails on a sideways dependency between packages of one layer', () => {
    const root = fixture()
    editPackage(root, 'pool', (pkg) => {
      pkg.dependencies = { ...pkg.dependencies, '@pingora-ts/tls': 'workspace:^' }
    })
    expectFailure(root, 'packages/pool: dependencies on @pingora-ts/tls is not allowed')
  })

  it('allows load-balancing as a devDependency of proxy but not as a runtime dependency', () => {
    const root = fixture()
    expect(checkLayers(root)).toEqual([])
    editPackage(root, 'proxy', (pkg) => {
      pkg.dependencies = { ...pkg.dependencies, '@pingora-ts/load-balancing': 'workspace:^' }
    })
    expectFailure(root, 'packages/proxy: dependencies on @pingora-ts/load-balancing is not allowed')
    expect(checkLayers(root)).toHaveLength(1)
  })

  it('allows a dev-only sibling in test files but not in runtime sources', () => {
    const root = fixture()
    write(
      join(root, 'packages/proxy/test/balancing.test.ts'),
      "import { LoadBalancer } from '@pingora-ts/load-balancing'\n",
    )
    expect(checkLayers(root)).toEqual([])
    write(
      join(root, 'packages/proxy/src/balance.ts'),
      "export { LoadBalancer } from '@pingora-ts/load-balancing'\n",
    )
    expectFailure(
      root,
      'packages/proxy/src/balance.ts: imports @pingora-ts/load-balancing, not allowed for proxy',
    )
  })

  it('fails on a package missing from the layer table', () => {
    const root = fixture()
    write(join(root, 'packages/gateway/package.json'), '{ "name": "@pingora-ts/gateway" }\n')
    expectFailure(root, 'packages/gateway: not in the layer table (scripts/check-layers.mjs)')
  })

  it('lets test files import @pingora-ts/test-utils, and only test files', () => {
    const root = fixture()
    write(
      join(root, 'packages/error/src/pingora-error.test.ts'),
      "import { startOrigin } from '@pingora-ts/test-utils'\n",
    )
    write(
      join(root, 'packages/error/test/chain.test.ts'),
      "import { startOrigin } from '@pingora-ts/test-utils'\n",
    )
    write(
      join(root, 'packages/error/src/types.test-d.ts'),
      "import { startOrigin } from '@pingora-ts/test-utils'\n",
    )
    expect(checkLayers(root)).toEqual([])
    write(
      join(root, 'packages/error/src/helpers.ts'),
      "import { startOrigin } from '@pingora-ts/test-utils'\n",
    )
    expectFailure(
      root,
      'packages/error/src/helpers.ts: imports @pingora-ts/test-utils, not allowed for error',
    )
  })

  it('fails on test-utils as a runtime dependency', () => {
    const root = fixture()
    editPackage(root, 'core', (pkg) => {
      pkg.dependencies = { ...pkg.dependencies, '@pingora-ts/test-utils': 'workspace:*' }
    })
    expectFailure(root, 'packages/core: dependencies on @pingora-ts/test-utils is not allowed')
  })

  it('catches dynamic imports, re-exports, subpath imports and peerDependencies', () => {
    const root = fixture()
    write(
      join(root, 'packages/timeout/src/lazy.ts'),
      "export const load = () => import('@pingora-ts/error')\n",
    )
    write(join(root, 'packages/tls/src/again.ts'), "export * from '@pingora-ts/pool'\n")
    write(join(root, 'packages/pool/src/sub.ts'), "import '@pingora-ts/core/testing'\n")
    editPackage(root, 'http', (pkg) => {
      pkg.peerDependencies = { '@pingora-ts/tls': '^0.1.0' }
    })
    expect(checkLayers(root)).toEqual([
      'packages/http: peerDependencies on @pingora-ts/tls is not allowed',
      'packages/pool/src/sub.ts: imports @pingora-ts/core, not allowed for pool',
      'packages/timeout/src/lazy.ts: imports @pingora-ts/error, not allowed for timeout',
      'packages/tls/src/again.ts: imports @pingora-ts/pool, not allowed for tls',
    ])
  })

  it('ignores imports that appear only in comments, such as TSDoc examples', () => {
    const root = fixture()
    write(
      join(root, 'packages/http/src/documented.ts'),
      [
        '/**',
        ' * @example',
        ' * ```ts',
        " * import { HttpProxy } from '@pingora-ts/proxy'",
        ' * ```',
        ' */',
        "// import { HttpPeer } from '@pingora-ts/core'",
        "export const url = 'http://example.com/*' // a string with comment-like text",
        '',
      ].join('\n'),
    )
    expect(checkLayers(root)).toEqual([])
  })

  it('ignores packages outside the @pingora-ts scope', () => {
    const root = fixture()
    editPackage(root, 'error', (pkg) => {
      pkg.dependencies = { undici: '^7.0.0' }
    })
    expect(checkLayers(root)).toEqual([])
  })
})

describe('stripComments', () => {
  it('blanks line and block comments and keeps strings', () => {
    expect(stripComments('a // x\nb /* y */ c \'//\' "/*" `*/`')).toBe('a \nb   c \'//\' "/*" `*/`')
  })

  it('ends a quoted string at the end of its line', () => {
    expect(stripComments("const r = /'/\n// gone\nkeep")).toBe("const r = /'/\n\nkeep")
  })
})

describe('the layer table', () => {
  it('is acyclic and every entry names a package of the table', () => {
    const names = Object.keys(LAYERS)
    const state = new Map<string, 'visiting' | 'done'>()
    const visit = (name: string, path: string[]): void => {
      if (state.get(name) === 'done') return
      expect(state.get(name), `cycle: ${[...path, name].join(' -> ')}`).toBeUndefined()
      state.set(name, 'visiting')
      for (const dependency of LAYERS[name] ?? []) {
        expect(names).toContain(dependency)
        visit(dependency, [...path, name])
      }
      state.set(name, 'done')
    }
    for (const name of names) visit(name, [])
    expect(state.size).toBe(names.length)
  })
})
