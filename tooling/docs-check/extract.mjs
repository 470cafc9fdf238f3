#!/usr/bin/env node
// Writes every ```ts block of docs/*.md and of every README (packages, examples, tooling, root)
// to snippets/<source>--L<line>.ts, one module each, for `tsc -p tsconfig.snippets.json`. A block
// of phase methods (the guide shows one phase at a time) is checked inside an object typed
// `Partial<ProxyHttp<any>>`, with the usual names imported. An HTML comment before a block may
// give it a hidden context (`<!-- docs-check: context ... -->`: imports and declarations put
// before it), mark it as a program to run (`docs-check: run`) or leave it out
// (`docs-check: skip (why)`). The TSDoc examples of packages/*/src that are whole modules (they
// import what they use, like the `ProxyHttp` example) are checked too. Prints how many blocks it
// wrote. See README.md.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const out = join(here, 'snippets')

/** The Markdown files whose blocks are checked. */
export function markdownFiles() {
  const files = [join(root, 'README.md')]
  for (const name of readdirSync(join(root, 'docs'))) {
    if (name.endsWith('.md')) files.push(join(root, 'docs', name))
  }
  for (const group of ['packages', 'examples', 'tooling']) {
    for (const name of readdirSync(join(root, group))) {
      const readme = join(root, group, name, 'README.md')
      try {
        readFileSync(readme)
        files.push(readme)
      } catch {
        // no README (the repository checks require one where it matters)
      }
    }
  }
  return files.sort()
}

/** The sources whose TSDoc examples are checked when they are whole modules (with imports). */
export function tsdocFiles() {
  const files = []
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) files.push(path)
    }
  }
  for (const name of readdirSync(join(root, 'packages'))) walk(join(root, 'packages', name, 'src'))
  return files.sort()
}

/**
 * The HTML comment right before line `index` (directly, or after one blank line), without its
 * `<!--` and `-->`, or `undefined`.
 */
function commentBefore(lines, index) {
  let end = index - 1
  if (end >= 0 && lines[end].trim() === '') end--
  if (end < 0 || !lines[end].trim().endsWith('-->')) return undefined
  let start = end
  while (start >= 0 && !lines[start].includes('<!--')) start--
  if (start < 0) return undefined
  const text = lines.slice(start, end + 1).join('\n')
  return text.slice(text.indexOf('<!--') + 4, text.lastIndexOf('-->'))
}

/**
 * The checked blocks of one file: `{ line, code, context, run }`. The HTML comment before a
 * block may say `docs-check: skip (why)` (left out), `docs-check: run` (a whole program, started
 * by the run test) or `docs-check: context` followed by lines (imports, `declare const ...`)
 * that are put before the block when it is checked, so a fragment compiles without showing them.
 */
export function blocksOf(text) {
  const blocks = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```ts') continue
    const comment = commentBefore(lines, i)?.trim() ?? ''
    const start = i + 1
    let end = start
    while (end < lines.length && lines[end].trim() !== '```') end++
    const code = lines.slice(start, end).join('\n')
    i = end
    if (comment.startsWith('docs-check: skip')) continue
    const context = comment.startsWith('docs-check: context')
      ? comment.slice('docs-check: context'.length).replace(/^[^\n]*\n?/, '')
      : ''
    blocks.push({ line: start + 1, code, context, run: comment.startsWith('docs-check: run') })
  }
  return blocks
}

/**
 * The module a block is checked as: its context before it (or in place of a `$BLOCK` line of the
 * context, to put a fragment inside a function), phase fragments wrapped, and a
 * `// @ts-expect-error` before every line the page says is a `// compile error` (before the next
 * line when the comment stands alone), so those lines must really fail to compile.
 */
export function moduleOf({ code, context }) {
  const expect = '// @ts-expect-error'
  const marked = code
    .split('\n')
    .flatMap((line) => {
      if (!/\/\/ compile error/i.test(line)) return [line]
      return line.trim().startsWith('//') ? [line, expect] : [expect, line]
    })
    .join('\n')
  const contextLines = context === '' ? [] : context.split('\n')
  const at = contextLines.findIndex((line) => line.trim() === '$BLOCK')
  if (at !== -1) {
    // The block's imports go to the top: an import cannot stand inside a function.
    const blockLines = marked.split('\n')
    const isImport = (line) => line.startsWith('import ')
    return [
      ...blockLines.filter(isImport),
      ...contextLines.slice(0, at),
      ...blockLines.filter((line) => !isImport(line)),
      ...contextLines.slice(at + 1),
    ].join('\n')
  }
  const full = [...contextLines, marked].join('\n')
  return isMemberFragment(code) ? wrapMembers(full) : full
}

/** The names a phase fragment may use without importing them, and where they come from. */
const PREAMBLE = [
  ['HttpPeer', "import { HttpPeer } from '@pingora-ts/core'"],
  ['Session', "import type { Session } from '@pingora-ts/proxy'"],
  ['PingoraError', "import type { PingoraError } from '@pingora-ts/error'"],
  ['RequestHeader', "import type { RequestHeader } from '@pingora-ts/http'"],
  ['ResponseHeader', "import type { ResponseHeader } from '@pingora-ts/http'"],
]

/**
 * Whether a block is a fragment of phase methods (`requestFilter(session) { ... }`), the way
 * the guide shows one phase at a time, rather than a module.
 */
export function isMemberFragment(code) {
  return code.split('\n').some(isMemberStart)
}

function isMemberStart(line) {
  // `name(params): Type {`, or `name(` with the parameters on the next lines.
  return /^(async )?[a-zA-Z]+\((.*\{)?$/.test(line)
}

/**
 * Wraps phase methods in an object typed as `ProxyHttp<Ctx>` (so unannotated parameters get
 * their phase's types), with imports for the names the guide leaves implicit and `Ctx` as any
 * state. Each method must end with a `}` alone at column 0.
 */
export function wrapMembers(code) {
  const lines = code.split('\n')
  const imports = lines.filter((line) => line.startsWith('import '))
  const rest = lines.filter((line) => !line.startsWith('import '))
  // Declarations before the first phase (an interface Ctx, a constant) stay at module level.
  const first = rest.findIndex(isMemberStart)
  const declarations = rest.slice(0, first)
  const members = rest.slice(first).map((line) => (line === '}' ? '},' : line))
  const ownCtx = declarations.some((line) => /^(interface|type) Ctx\b/.test(line))
  const preamble = PREAMBLE.filter(
    ([name]) => !imports.some((line) => new RegExp(`\\b${name}\\b`).test(line)),
  ).map(([, line]) => line)
  const hasProxyHttp = imports.some((line) => /\bProxyHttp\b/.test(line))
  return [
    ...imports,
    ...preamble,
    ...(hasProxyHttp ? [] : ["import type { ProxyHttp } from '@pingora-ts/proxy'"]),
    ...declarations,
    ...(ownCtx ? [] : ['type Ctx = any']),
    'export const app: Partial<ProxyHttp<Ctx>> = {',
    ...members,
    '}',
  ].join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  let count = 0
  for (const file of markdownFiles()) {
    const name = relative(root, file).replaceAll('/', '__').replace(/\.md$/, '')
    for (const block of blocksOf(readFileSync(file, 'utf8'))) {
      const { line } = block
      const body = moduleOf(block)
      writeFileSync(
        join(out, `${name}--L${line}.ts`),
        `// ${relative(root, file)}:${line}\n${body}\nexport {}\n`,
      )
      count++
    }
  }
  for (const file of tsdocFiles()) {
    const name = relative(root, file).replaceAll('/', '__').replace(/\.ts$/, '')
    const text = readFileSync(file, 'utf8')
      .split('\n')
      .map((line) => line.replace(/^\s*\* ?/, ''))
      .join('\n')
    for (const { line, code } of blocksOf(text)) {
      if (!/^import /m.test(code)) continue // a usage line, not a program: see the README blocks
      // An example of a library we do not depend on (Sentry...) cannot be resolved here.
      if (/from '(?!@pingora-ts\/|node:)/.test(code)) continue
      writeFileSync(
        join(out, `${name}--L${line}.ts`),
        `// ${relative(root, file)}:${line}\n${code}\nexport {}\n`,
      )
      count++
    }
  }
  process.stdout.write(`docs-check: ${count} TypeScript blocks extracted\n`)
}
