import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from './repo.ts'

function markdownFiles(): string[] {
  const files = ['README.md', 'ARCHITECTURE.md', 'CONTRIBUTING.md', 'SECURITY.md']
    .map((name) => join(ROOT, name))
    .filter((path) => existsSync(path))
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.md')) files.push(path)
    }
  }
  if (existsSync(join(ROOT, 'docs'))) walk(join(ROOT, 'docs'))
  return files
}

describe('relative links in the docs', () => {
  const files = markdownFiles()

  it('finds the docs', () => {
    expect(files.map((file) => relative(ROOT, file))).toContain('ARCHITECTURE.md')
  })

  it.each(files.map((file) => relative(ROOT, file)))(
    '%s links only to files that exist',
    (file) => {
      const text = readFileSync(join(ROOT, file), 'utf8')
      const broken: string[] = []
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = (m[1] ?? '').split('#')[0] ?? ''
        if (target === '' || /^[a-z]+:/.test(target)) continue
        if (!existsSync(join(ROOT, dirname(file), target))) broken.push(target)
      }
      expect(broken).toEqual([])
    },
  )
})
