import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { LAYERS, type PackageJson, ROOT, readJson, workspaceDirs } from './repo.ts'

const published = workspaceDirs('packages')

describe('packages/*/package.json', () => {
  it('finds the finished packages', () => {
    expect(published).toContain('error')
  })

  describe.each(published)('packages/%s', (dir) => {
    const pkg = readJson<PackageJson>(join(ROOT, 'packages', dir, 'package.json'))

    it('is named @pingora-ts/<folder> and is in the layer table', () => {
      expect(pkg.name).toBe(`@pingora-ts/${dir}`)
      expect(Object.keys(LAYERS)).toContain(dir)
    })

    it('is a public Apache-2.0 ESM package without side effects on Node >= 22.12', () => {
      expect(pkg.private).toBeUndefined()
      expect(pkg.license).toBe('Apache-2.0')
      expect(pkg.type).toBe('module')
      expect(pkg.sideEffects).toBe(false)
      expect(pkg.engines?.node).toBe('>=22.12')
    })

    it('exports its sources under @pingora-ts/source first, then types, then the default', () => {
      const exports = pkg.exports ?? {}
      expect(exports['.']).toEqual({
        '@pingora-ts/source': './src/index.ts',
        types: './dist/index.d.ts',
        default: './dist/index.js',
      })
      expect(exports['./package.json']).toBe('./package.json')
      for (const [subpath, target] of Object.entries(exports)) {
        if (subpath === './package.json') continue
        // A subpath export (such as `./testing`) follows the same order as the root entry.
        expect(Object.keys(target as object), subpath).toEqual([
          '@pingora-ts/source',
          'types',
          'default',
        ])
      }
      for (const legacy of ['main', 'module', 'types', 'typesVersions']) {
        expect(pkg[legacy], `${legacy} must not be set (exports only)`).toBeUndefined()
      }
    })

    it('ships dist and src without tests', () => {
      expect(pkg.files).toEqual(
        expect.arrayContaining(['dist', 'src', '!src/**/*.test.ts', '!src/**/*.test-d.ts']),
      )
    })

    it('publishes publicly from its own repository folder (provenance: the release workflow)', () => {
      // Provenance is asked for by the release workflow (NPM_CONFIG_PROVENANCE, checked below),
      // not in publishConfig, which would override it and make every publish outside GitHub
      // Actions fail, the registry install test's included.
      expect(pkg.publishConfig).toEqual({ access: 'public' })
      expect(pkg.repository?.directory).toBe(`packages/${dir}`)
    })

    it('depends on siblings through workspace:^ so one copy of each class is shared', () => {
      for (const [name, range] of Object.entries(pkg.dependencies ?? {})) {
        if (name.startsWith('@pingora-ts/')) expect(range, name).toBe('workspace:^')
      }
    })
  })
})

describe('the release workflow', () => {
  it('publishes with provenance (NPM_CONFIG_PROVENANCE) through changeset publish', () => {
    const workflow = readFileSync(join(ROOT, '.github', 'workflows', 'release.yml'), 'utf8')
    expect(workflow).toContain('NPM_CONFIG_PROVENANCE: "true"')
    expect(workflow).toContain('id-token: write')
    expect(workflow).toContain('publish-script: pnpm run release')
  })
})

describe('private workspace packages', () => {
  const privateDirs = [
    ...workspaceDirs('tooling').map((dir) => `tooling/${dir}`),
    ...workspaceDirs('examples').map((dir) => `examples/${dir}`),
  ]

  it('include this package', () => {
    expect(privateDirs).toContain('tooling/repo-checks')
  })

  it.each(privateDirs)('%s is private, so changesets never versions or publishes it', (dir) => {
    const pkg = readJson<PackageJson>(join(ROOT, dir, 'package.json'))
    expect(pkg.private).toBe(true)
  })
})

describe('every workspace package (packages, examples, tooling)', () => {
  const all = ['packages', 'examples', 'tooling'].flatMap((group) =>
    workspaceDirs(group).map((dir) => `${group}/${dir}`),
  )

  it.each(all)('%s declares Node >= 22.12 (ADR 0018) and has a README', (dir) => {
    const pkg = readJson<PackageJson>(join(ROOT, dir, 'package.json'))
    expect(pkg.engines?.node).toBe('>=22.12')
    expect(existsSync(join(ROOT, dir, 'README.md'))).toBe(true)
  })

  it.each(published)('packages/%s builds with the shared tsup preset', (dir) => {
    const pkg = readJson<PackageJson & { scripts?: Record<string, string> }>(
      join(ROOT, 'packages', dir, 'package.json'),
    )
    expect(pkg.scripts?.build).toBe('tsup --config ../../tsup.config.ts')
    expect(existsSync(join(ROOT, 'packages', dir, 'tsup.config.ts'))).toBe(false)
  })

  it('the root declares the same Node floor', () => {
    expect(readJson<PackageJson>(join(ROOT, 'package.json')).engines?.node).toBe('>=22.12')
  })
})
