import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT, readJson, workspaceDirs } from './repo.ts'

interface ChangesetConfig {
  changelog?: unknown
  fixed?: string[][]
  access?: string
  baseBranch?: string
  privatePackages?: { version?: boolean; tag?: boolean }
}

const changesetDir = join(ROOT, '.changeset')
const changesets = readdirSync(changesetDir).filter(
  (name) => /\.md$/.test(name) && name !== 'README.md',
)

describe('.changeset/config.json', () => {
  const config = readJson<ChangesetConfig>(join(changesetDir, 'config.json'))

  it('versions every published package together in one fixed group', () => {
    expect(config.fixed).toEqual([['@pingora-ts/*']])
  })

  it('publishes publicly from main and leaves private packages unversioned and untagged', () => {
    expect(config.access).toBe('public')
    expect(config.baseBranch).toBe('main')
    expect(config.privatePackages).toEqual({ version: false, tag: false })
  })

  it('uses the changelog generator that ships with @changesets/cli', () => {
    expect(config.changelog).toBe('@changesets/cli/changelog')
  })
})

describe('.changeset/*.md', () => {
  const published = new Set(workspaceDirs('packages').map((dir) => `@pingora-ts/${dir}`))

  it('includes the initial changeset of @pingora-ts/error', () => {
    expect(changesets).toContain('error-initial.md')
  })

  it.each(changesets)(
    '%s bumps existing packages by patch or minor and says what changed',
    (file) => {
      const text = readFileSync(join(changesetDir, file), 'utf8')
      const match = /^---\n([\s\S]*?)\n---\n+([\s\S]+)$/.exec(text)
      expect(match, 'front matter between --- lines, then a summary').not.toBeNull()
      const [, header = '', summary = ''] = match ?? []
      const lines = header.split('\n').filter((line) => line.trim() !== '')
      expect(lines.length).toBeGreaterThan(0)
      for (const line of lines) {
        const bump = /^["']?(@pingora-ts\/[a-z0-9-]+)["']?:\s*(patch|minor|major)\s*$/.exec(line)
        expect(bump, `"${line}" is not "<package>": <bump>`).not.toBeNull()
        const [, name = '', level = ''] = bump ?? []
        expect(published, `${name} is not a package in packages/`).toContain(name)
        // Before 1.0 a breaking change is a minor bump (house style 2.10).
        expect(level).not.toBe('major')
      }
      expect(summary.trim().length).toBeGreaterThan(0)
    },
  )
})
