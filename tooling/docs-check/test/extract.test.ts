import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { blocksOf, isMemberFragment, markdownFiles, tsdocFiles } from '../extract.mjs'

/** Fragments left out with `<!-- docs-check: skip -->`; the number may only go down. */
const SKIPPED_AT_MOST = 39

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

  it(`skips at most ${SKIPPED_AT_MOST} fragments (fix one, lower the bound)`, () => {
    let skipped = 0
    for (const file of markdownFiles()) {
      skipped += readFileSync(file, 'utf8').split('<!-- docs-check: skip').length - 1
    }
    expect(skipped).toBeLessThanOrEqual(SKIPPED_AT_MOST)
  })
})
