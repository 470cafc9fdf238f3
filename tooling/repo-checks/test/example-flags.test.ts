import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from './repo.ts'

const EXAMPLES = readdirSync(join(ROOT, 'examples')).sort()

interface Run {
  readonly code: number | null
  readonly out: string
  readonly err: string
}

/** Runs an example's main as its `start` script does, to its exit. */
function run(example: string, args: readonly string[]): Promise<Run> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@pingora-ts/source', 'src/main.ts', ...args],
    { cwd: join(ROOT, 'examples', example), stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let out = ''
  let err = ''
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString()
  })
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err })))
}

// Two tsx processes per example, all at once: slow on a loaded 2-core machine.
describe('every example speaks clearly', { timeout: 240_000 }, () => {
  it('has a start script that execs node (so stopping the launcher stops the example)', () => {
    for (const example of EXAMPLES) {
      const manifest = JSON.parse(
        readFileSync(join(ROOT, 'examples', example, 'package.json'), 'utf8'),
      ) as { scripts: Record<string, string> }
      expect(manifest.scripts.start, example).toBe(
        'exec node --import tsx --conditions=@pingora-ts/source src/main.ts',
      )
    }
  })

  it('has a distinct default port', () => {
    const ports = EXAMPLES.map((example) => {
      const main = readFileSync(join(ROOT, 'examples', example, 'src', 'main.ts'), 'utf8')
      const match = /'127\.0\.0\.1:(\d{4})'/.exec(main)
      expect(match, example).not.toBeNull()
      return match?.[1]
    })
    expect(new Set(ports).size).toBe(EXAMPLES.length)
  })

  it('answers a bad flag (after pnpm`s --) or address in one line + the usage, exit 2', async () => {
    const results = await Promise.all(
      EXAMPLES.map(async (example) => ({
        example,
        flag: await run(example, ['--', '--bogus']),
        address: await run(example, ['--listen', 'nowhere']),
      })),
    )
    for (const { example, flag, address } of results) {
      expect(flag.code, `${example}: ${flag.err}`).toBe(2)
      expect(flag.err).toMatch(/^\S+: Unknown option '--bogus'.*\nusage: \S+ \[options\]\n/)
      expect(flag.err).toContain('--listen ADDR')
      if (example !== 'load-balancer') {
        // Only the demo runs a Server from the shared flags; the others must not offer them.
        expect(flag.err, example).not.toContain('--daemon')
      }
      expect(flag.err, example).not.toMatch(/^\s+at /m)
      expect(address.code, example).toBe(2)
      expect(address.err).toMatch(/^\S+: --listen "nowhere": expected HOST:PORT.*\nusage: /)
      expect(address.err, example).not.toMatch(/^\s+at /m)
    }
  })
})
