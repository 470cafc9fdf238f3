import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { blocksOf, isMemberFragment, markdownFiles, moduleOf, tsdocFiles } from '../extract.mjs'

/**
 * Blocks left out with `<!-- docs-check: skip (why) -->`. Every fragment of ours is checked
 * (with a hidden context where it needs one); a skip is only for a block that is not our
 * TypeScript, and there is none today.
 */
const SKIPPED_AT_MOST = 0

describe('docs-check extraction', () => {
  it('finds the quick start program and the ProxyHttp TSDoc example', () => {
    const quickStart = markdownFiles().find((file) =>
      file.endsWith('docs/quick-start.md'),
    ) as string
    const blocks = blocksOf(readFileSync(quickStart, 'utf8'))
    expect(blocks.some((block) => block.code.startsWith('// proxy.ts'))).toBe(true)
    const trait = tsdocFiles().find((file) => file.endsWith('proxy/src/proxy-trait.ts')) as string
    expect(readFileSync(trait, 'utf8')).toContain('class LB implements ProxyHttp<void>')
  })

  it('checks phase fragments inside a ProxyHttp object, and modules as they are', () => {
    expect(isMemberFragment('requestFilter(session, ctx) {\n  return false\n}')).toBe(true)
    expect(isMemberFragment('errorWhileProxy(\n  peer: HttpPeer,\n): PingoraError {')).toBe(true)
    expect(
      isMemberFragment("import { Server } from '@pingora-ts/core'\nconst s = new Server()"),
    ).toBe(false)
  })

  it('puts a hidden context before a fragment, or around it at $BLOCK', () => {
    const page = [
      'Text.',
      '',
      '<!-- docs-check: context',
      "import { TlsSettings } from '@pingora-ts/core'",
      'declare const certFile: string',
      '-->',
      '',
      '```ts',
      'TlsSettings.intermediate(certFile, certFile)',
      '```',
      '',
      '```ts',
      'const plain = 1',
      '```',
    ].join('\n')
    const [withContext, plain] = blocksOf(page)
    expect(withContext?.line).toBe(9)
    expect(withContext?.context).toBe(
      "import { TlsSettings } from '@pingora-ts/core'\ndeclare const certFile: string",
    )
    expect(moduleOf(withContext as never)).toBe(
      "import { TlsSettings } from '@pingora-ts/core'\ndeclare const certFile: string\n" +
        'TlsSettings.intermediate(certFile, certFile)',
    )
    expect(plain).toEqual({ line: 13, code: 'const plain = 1', context: '', run: false })

    const wrapped = moduleOf({
      code: "import { a } from 'a'\nawait a()\nreturn true",
      context: 'async function f() {\n$BLOCK\n}',
    })
    expect(wrapped).toBe("import { a } from 'a'\nasync function f() {\nawait a()\nreturn true\n}")
  })

  it("hoists a context's imports above a phase fragment", () => {
    const module = moduleOf({
      code: 'requestFilter(session) {\n  return limit > 0\n}',
      context: "import { x } from 'x'\ndeclare const limit: number",
    })
    const lines = module.split('\n')
    expect(lines[0]).toBe("import { x } from 'x'")
    expect(lines.indexOf('declare const limit: number')).toBeLessThan(
      lines.findIndex((line) => line.startsWith('export const app')),
    )
    expect(lines.at(-1)).toBe('}')
  })

  it('expects a compile error where the page says so', () => {
    expect(moduleOf({ code: "f('x') // compile error: not a number", context: '' })).toBe(
      "// @ts-expect-error\nf('x') // compile error: not a number",
    )
    expect(moduleOf({ code: '// Compile error: wrong order\nf(b, a)', context: '' })).toBe(
      '// Compile error: wrong order\n// @ts-expect-error\nf(b, a)',
    )
  })

  it('leaves out skipped blocks and marks runnable ones', () => {
    const page = [
      '<!-- docs-check: skip (not ours) -->',
      '```ts',
      'skipped()',
      '```',
      '<!-- docs-check: run -->',
      '```ts',
      "import 'node:http'",
      '```',
    ].join('\n')
    expect(blocksOf(page)).toEqual([
      { line: 7, code: "import 'node:http'", context: '', run: true },
    ])
  })

  it(`skips at most ${SKIPPED_AT_MOST} fragments (fix one, lower the bound)`, () => {
    let skipped = 0
    for (const file of markdownFiles()) {
      skipped += readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => line.trim().startsWith('<!-- docs-check: skip')).length
    }
    expect(skipped).toBeLessThanOrEqual(SKIPPED_AT_MOST)
  })
})
