import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { confField, defineConfSection } from './conf-section.ts'
import { type CommandLineSpec, checkHostPort, tryParseCommandLine } from './opt.ts'

const SPEC = {
  name: 'demo',
  version: '1.2.3',
  summary: 'A demo.',
  options: {
    listen: { type: 'string', default: '127.0.0.1:6188', description: 'where to listen' },
    upstream: { type: 'string', multiple: true, description: 'an upstream', valueName: 'ADDR' },
    tls: { type: 'boolean', description: 'use TLS' },
  },
  sections: { demo: defineConfSection({ tag: confField.string('v1', 'the tag') }) },
} as const satisfies CommandLineSpec

const dir = mkdtempSync(join(tmpdir(), 'pingora-opt-'))

describe('tryParseCommandLine', () => {
  it('parses the shared flags, short and long, and the program flags with types', () => {
    const path = join(dir, 'ok.yaml')
    writeFileSync(path, 'threads: 3\ndemo:\n  tag: v9\n')
    const outcome = tryParseCommandLine(SPEC, [
      '-c',
      path,
      '-u',
      '--listen',
      ':0',
      '--upstream',
      'a:1',
      '--upstream',
      'b:2',
    ])
    if (outcome.kind !== 'run') throw new Error(outcome.kind)
    expect(outcome.opt).toEqual({ conf: path, upgrade: true, daemon: false, test: false })
    expect(outcome.values).toEqual({ listen: ':0', upstream: ['a:1', 'b:2'] })
    expect(outcome.configuration.threads).toBe(3)
    expect(outcome.sections.demo.tag).toBe('v9')
    expectTypeOf(outcome.values.listen).toEqualTypeOf<string>()
    expectTypeOf(outcome.values.upstream).toEqualTypeOf<string[] | undefined>()
    expectTypeOf(outcome.values.tls).toEqualTypeOf<boolean | undefined>()
    expectTypeOf(outcome.sections.demo.tag).toEqualTypeOf<string>()
  })

  it('skips the -- pnpm passes on, and lets -d turn daemon on', () => {
    const outcome = tryParseCommandLine(SPEC, ['--', '--daemon', '--tls'])
    if (outcome.kind !== 'run') throw new Error(outcome.kind)
    expect(outcome.opt.daemon).toBe(true)
    expect(outcome.configuration.daemon).toBe(true)
    expect(outcome.values).toEqual({ listen: '127.0.0.1:6188', tls: true })
    expect(outcome.sections.demo.tag).toBe('v1')
  })

  it('answers --help and --version', () => {
    const help = tryParseCommandLine(SPEC, ['--help'])
    expect(help.kind).toBe('help')
    const text = (help as { text: string }).text
    expect(text).toMatch(/^usage: demo \[options\]\nA demo\.\n/)
    expect(text).toContain('--upstream ADDR')
    expect(text).toContain('an upstream (repeatable)')
    expect(text).toContain('(default 127.0.0.1:6188)')
    expect(text).toContain('-c, --conf FILE')
    expect(text).toContain('-u, --upgrade')
    expect(tryParseCommandLine(SPEC, ['-V'])).toEqual({ kind: 'version', text: 'demo 1.2.3\n' })
  })

  it('reports a bad flag, a missing value and a positional in one line with the usage', () => {
    for (const [args, message] of [
      [['--nope'], "Unknown option '--nope'"],
      [['--listen'], "Option '--listen <value>' argument missing"],
      [['extra'], "Unexpected argument 'extra'"],
    ] as const) {
      const outcome = tryParseCommandLine(SPEC, args)
      if (outcome.kind !== 'error') throw new Error(outcome.kind)
      expect(outcome.message.startsWith(message), outcome.message).toBe(true)
      expect(outcome.message).not.toContain('\n')
      expect(outcome.usage).toContain('usage: demo')
    }
  })

  it('checks the file with -t, and reports a bad file without usage', () => {
    const good = join(dir, 'good.yaml')
    writeFileSync(good, 'threads: 2\n')
    expect(tryParseCommandLine(SPEC, ['-t', '-c', good])).toEqual({
      kind: 'tested',
      text: `${good}: configuration is valid\n`,
      warnings: [],
    })
    const bad = join(dir, 'bad.yaml')
    writeFileSync(bad, 'threads: -1\n')
    expect(tryParseCommandLine(SPEC, ['-t', '-c', bad])).toEqual({
      kind: 'error',
      message: `${bad}:1: threads: must be an integer >= 1, got -1`,
      usage: undefined,
    })
  })

  it('checks address flags, the default and every repeated value, as a usage error', () => {
    const spec = {
      name: 'addr',
      options: {
        listen: {
          type: 'string',
          default: '127.0.0.1:6188',
          description: 'l',
          check: checkHostPort,
        },
        upstream: { type: 'string', multiple: true, description: 'u', check: checkHostPort },
      },
    } as const satisfies CommandLineSpec
    const ok = tryParseCommandLine(spec, ['--upstream', '[::1]:80', '--upstream', 'origin:8080'])
    expect(ok.kind).toBe('run')
    for (const [args, message] of [
      [['--listen', 'foo'], '--listen "foo": expected HOST:PORT or [IPV6]:PORT'],
      [['--listen', '127.0.0.1:99999'], '--listen "127.0.0.1:99999": expected HOST:PORT'],
      [['--upstream', 'a:1', '--upstream', 'b'], '--upstream "b": expected HOST:PORT'],
      [['--upstream', '::1:80'], '--upstream "::1:80": expected HOST:PORT'],
    ] as const) {
      const outcome = tryParseCommandLine(spec, args)
      if (outcome.kind !== 'error') throw new Error(`${args.join(' ')}: ${outcome.kind}`)
      expect(outcome.message.startsWith(message), outcome.message).toBe(true)
      expect(outcome.usage).toContain('usage: addr')
    }
  })

  it('leaves out -c, -d, -u and -t for a program that does not honour them', () => {
    const spec = {
      name: 'plain',
      serverOptions: false,
      options: { listen: { type: 'string', default: ':0', description: 'where' } },
    } as const satisfies CommandLineSpec
    const help = tryParseCommandLine(spec, ['-h'])
    if (help.kind !== 'help') throw new Error(help.kind)
    expect(help.text).toContain('--listen')
    expect(help.text).toContain('-h, --help')
    expect(help.text).toContain('-V, --version')
    for (const flag of ['--conf', '--daemon', '--upgrade', '--test']) {
      expect(help.text).not.toContain(flag)
      const outcome = tryParseCommandLine(spec, [flag])
      expect(outcome).toMatchObject({ kind: 'error', message: `Unknown option '${flag}'` })
    }
  })

  it('refuses a program flag that reuses a shared name', () => {
    expect(() =>
      tryParseCommandLine(
        { name: 'x', options: { conf: { type: 'string', description: '' } } },
        [],
      ),
    ).toThrow(new TypeError('command-line option --conf is already defined'))
  })
})

// Five Node processes with tsx: slow on a loaded machine.
describe('parseCommandLine in a process', { timeout: 180_000 }, () => {
  const program = join(dir, 'program.ts')
  writeFileSync(
    program,
    `import { parseCommandLine } from ${JSON.stringify(new URL('./opt.ts', import.meta.url).pathname)}
const { opt } = parseCommandLine({ name: 'demo', version: '1.0.0' })
process.stdout.write(JSON.stringify(opt))`,
  )
  const run = (args: string[]) =>
    spawnSync(
      process.execPath,
      ['--import', 'tsx', '--conditions=@pingora-ts/source', program, ...args],
      { encoding: 'utf8', timeout: 60_000 },
    )

  it('exits 2 with one line and the usage on a bad flag, 1 on a bad file, 0 on -t and --help', () => {
    const badFlag = run(['--bogus'])
    expect(badFlag.status).toBe(2)
    expect(badFlag.stderr.split('\n')[0]).toMatch(/^demo: Unknown option '--bogus'/)
    expect(badFlag.stderr.split('\n')[1]).toBe('usage: demo [options]')
    expect(badFlag.stderr).toContain('usage: demo [options]')
    expect(badFlag.stderr).not.toMatch(/\n\s+at /)
    const path = join(dir, 'proc-bad.yaml')
    writeFileSync(path, 'threads: [1\n')
    const badFile = run(['-c', path])
    expect(badFile.status).toBe(1)
    expect(badFile.stderr).toMatch(new RegExp(`^demo: ${path}:\\d+: YAML syntax error: .*\\n$`))
    const good = join(dir, 'proc-good.yaml')
    writeFileSync(good, 'threads: 1\nthread: 2\n')
    const tested = run(['-t', '-c', good])
    expect(tested.status).toBe(0)
    expect(tested.stdout).toBe(`${good}: configuration is valid\n`)
    expect(tested.stderr).toBe(`demo: warning: ${good}:2: thread: unknown key (ignored)\n`)
    const help = run(['--', '--help'])
    expect(help.status).toBe(0)
    expect(help.stdout).toContain('usage: demo [options]')
    const ok = run(['-d'])
    expect(ok.status).toBe(0)
    expect(JSON.parse(ok.stdout)).toEqual({ upgrade: false, daemon: true, test: false })
  })
})
