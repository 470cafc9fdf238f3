import { parseArgs } from 'node:util'
import { parseTcpAddress } from '../listeners/server-address.ts'
import { ConfError, type ConfSection, type ConfValues } from './conf-section.ts'
import { ServerConf } from './configuration.ts'
import type { Server } from './server.ts'

/**
 * The command-line options every program built on {@link Server} accepts (Pingora's `Opt`).
 * Port of the `Opt` struct of `pingora-core/src/server/configuration/mod.rs`.
 */
export interface Opt {
  /** `-u/--upgrade`: this process takes over the listening sockets of a running instance. */
  readonly upgrade: boolean
  /** `-d/--daemon`: run in the background (overrides the file's `daemon`). */
  readonly daemon: boolean
  /** `-t/--test`: load and check the configuration, then exit 0 (or non-zero with the reason). */
  readonly test: boolean
  /** `-c/--conf`: the YAML configuration file. */
  readonly conf: string | undefined
}

/** One flag a program adds to the shared ones: a `node:util` `parseArgs` option plus help text. */
export interface CommandLineOption {
  /** A flag that takes a value, or a switch. */
  readonly type: 'string' | 'boolean'
  /** A one-letter alias (`-x`). */
  readonly short?: string
  /** Whether the flag may repeat (the value is then an array). */
  readonly multiple?: boolean
  /** The value when the flag is absent. */
  readonly default?: string | boolean | readonly string[] | readonly boolean[]
  /** What the flag does, one line, for `--help`. */
  readonly description: string
  /** The placeholder of its value in `--help` (string flags). @defaultValue `VALUE` */
  readonly valueName?: string
  /**
   * Checks each value of a string flag (the default too); a throw is a usage error whose
   * message names the flag and the value (`--listen "foo": expected HOST:PORT...`).
   * {@link checkHostPort} checks addresses.
   */
  readonly check?: (value: string) => void
}

/** A program's own flags, by long name. */
export type CommandLineOptions = Readonly<Record<string, CommandLineOption>>

/** A program's own configuration sections, by top-level YAML key. */
export type ConfSections = Readonly<Record<string, ConfSection>>

/** What a program tells {@link parseCommandLine} about itself. */
export interface CommandLineSpec<
  E extends CommandLineOptions = CommandLineOptions,
  S extends ConfSections = Record<never, ConfSection>,
> {
  /** The program name shown in usage lines. */
  readonly name: string
  /** What `--version` prints. @defaultValue `'unknown'` */
  readonly version?: string
  /** One line shown under the usage line of `--help`. */
  readonly summary?: string
  /** The program's own flags, added to the shared ones. Their names must not clash with them. */
  readonly options?: E
  /** The program's own sections of the `-c` file, checked like the server's keys. */
  readonly sections?: S
  /** Unknown keys in the `-c` file are errors instead of warnings. @defaultValue `false` */
  readonly strict?: boolean
  /**
   * Whether the program accepts the server flags `-c/--conf`, `-d/--daemon`, `-u/--upgrade`
   * and `-t/--test` (it then must pass {@link CommandLine.opt} and
   * {@link CommandLine.configuration} to its {@link Server}). A program that does not honour
   * them says `false`, and `--help` shows only the flags that work. `-h` and `-V` stay.
   * @defaultValue `true`
   */
  readonly serverOptions?: boolean
}

type ScalarOf<O extends CommandLineOption> = O['type'] extends 'string' ? string : boolean
type ValueOf<O extends CommandLineOption> = O['multiple'] extends true ? ScalarOf<O>[] : ScalarOf<O>

/**
 * The values of a program's own flags, typed from its {@link CommandLineSpec.options}: a flag
 * without a default may be `undefined`.
 */
export type CommandLineValues<E extends CommandLineOptions> = {
  readonly [K in keyof E]: E[K] extends { readonly default: unknown }
    ? ValueOf<E[K]>
    : ValueOf<E[K]> | undefined
}

/**
 * A parsed command line: the shared {@link Opt}, the program's own flag values, and the
 * configuration loaded from `-c` (defaults without it).
 */
export interface CommandLine<
  E extends CommandLineOptions = CommandLineOptions,
  S extends ConfSections = Record<never, ConfSection>,
> {
  /** The shared options. */
  readonly opt: Opt
  /** The program's own flags. */
  readonly values: CommandLineValues<E>
  /** The server configuration: the `-c` file, with `-d` applied. */
  readonly configuration: ServerConf
  /** The program's own sections of the `-c` file (defaults when absent). */
  readonly sections: { readonly [K in keyof S]: ConfValues<S[K]['fields']> }
  /** One line per unknown or ignored key of the `-c` file. */
  readonly warnings: readonly string[]
}

/**
 * What {@link tryParseCommandLine} found: run, print help or version, a usage error
 * (`usage` set), a configuration error, or a successful `-t` check.
 */
export type CommandLineOutcome<
  E extends CommandLineOptions = CommandLineOptions,
  S extends ConfSections = Record<never, ConfSection>,
> =
  | ({ readonly kind: 'run' } & CommandLine<E, S>)
  | { readonly kind: 'tested'; readonly text: string; readonly warnings: readonly string[] }
  | { readonly kind: 'help'; readonly text: string }
  | { readonly kind: 'version'; readonly text: string }
  | { readonly kind: 'error'; readonly message: string; readonly usage: string | undefined }

/** The flags every program shares; a program's own flags must not reuse these names. */
export const SHARED_OPTIONS: Readonly<Record<keyof Opt | 'help' | 'version', CommandLineOption>> = {
  conf: {
    type: 'string',
    short: 'c',
    valueName: 'FILE',
    description: 'the YAML configuration file',
  },
  daemon: { type: 'boolean', short: 'd', description: 'run in the background' },
  upgrade: {
    type: 'boolean',
    short: 'u',
    description: 'take over the listening sockets of the running instance',
  },
  test: { type: 'boolean', short: 't', description: 'check the configuration and exit' },
  help: { type: 'boolean', short: 'h', description: 'print this help and exit' },
  version: { type: 'boolean', short: 'V', description: 'print the version and exit' },
}

/** The server flags a program leaves out with `serverOptions: false`. */
const SERVER_OPTION_NAMES: ReadonlySet<string> = new Set(['conf', 'daemon', 'upgrade', 'test'])

function sharedOptionsOf(
  spec: CommandLineSpec<CommandLineOptions, ConfSections>,
): Array<[string, CommandLineOption]> {
  const all = Object.entries(SHARED_OPTIONS)
  return spec.serverOptions === false ? all.filter(([name]) => !SERVER_OPTION_NAMES.has(name)) : all
}

/**
 * Checks that a value is `HOST:PORT` or `[IPV6]:PORT` with a port from 0 to 65535: the
 * {@link CommandLineOption.check} of address flags (`--listen`, `--upstream`).
 * @param value - the flag's value
 * @throws TypeError naming the expected form
 */
export function checkHostPort(value: string): void {
  try {
    parseTcpAddress(value)
  } catch {
    throw new TypeError('expected HOST:PORT or [IPV6]:PORT, with a port from 0 to 65535')
  }
}

/**
 * Checks that a value is a whole number (`0`, `1000`): the {@link CommandLineOption.check} of
 * counts and durations in ms.
 * @param value - the flag's value
 * @throws TypeError naming the expected form
 */
export function checkWholeNumber(value: string): void {
  if (!/^\d{1,15}$/.test(value)) throw new TypeError('expected a whole number')
}

/**
 * Ends the process after a failed start, the way {@link Server.runForever} does: prints
 * `cannot start: <the error on one line>` to stderr (an address in use: `BindError ...
 * EADDRINUSE`) and exits 1, with no stack trace. For mains that start their services
 * themselves: `await startMyProxy().catch(exitCannotStart)`.
 * @param error - why the start failed
 */
export function exitCannotStart(error: unknown): never {
  process.stderr.write(`cannot start: ${oneLine(error)}\n`)
  return process.exit(1)
}

/**
 * Parses a command line without side effects: the shared flags (`-c/--conf`, `-d/--daemon`,
 * `-u/--upgrade`, `-t/--test`, `-h/--help`, `-V/--version`) plus the program's own. A `--`
 * in the arguments (what `pnpm start -- ...` passes) is skipped; positionals are errors.
 * @param spec - the program's name, version and flags
 * @param args - the arguments @defaultValue `process.argv.slice(2)`
 * @throws TypeError when a program flag reuses a shared name
 */
export function tryParseCommandLine<
  E extends CommandLineOptions,
  S extends ConfSections = Record<never, ConfSection>,
>(
  spec: CommandLineSpec<E, S>,
  args: readonly string[] = process.argv.slice(2),
): CommandLineOutcome<E, S> {
  const own = spec.options ?? ({} as E)
  const options: NonNullable<Parameters<typeof parseArgs>[0]>['options'] & object = {}
  for (const [name, option] of [...sharedOptionsOf(spec), ...Object.entries(own)]) {
    // A program's flag may not take a shared name, even one `serverOptions: false` leaves out.
    if (
      name in options ||
      (option !== SHARED_OPTIONS[name as keyof Opt] && name in SHARED_OPTIONS)
    ) {
      throw new TypeError(`command-line option --${name} is already defined`)
    }
    const config: (typeof options)[string] = { type: option.type }
    if (option.short !== undefined) config.short = option.short
    if (option.multiple !== undefined) config.multiple = option.multiple
    if (option.default !== undefined) config.default = option.default as string
    options[name] = config
  }
  const usage = usageText(spec)
  // `pnpm start -- --flag` hands the `--` on to the program; it separates nothing here.
  const argv = args[0] === '--' ? args.slice(1) : [...args]
  let values: Record<string, unknown>
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values
  } catch (error) {
    return { kind: 'error', message: oneLine(error), usage }
  }
  if (values.help === true) return { kind: 'help', text: usage }
  if (values.version === true)
    return { kind: 'version', text: `${spec.name} ${spec.version ?? 'unknown'}\n` }
  for (const [name, option] of Object.entries(own)) {
    const message = checkValues(name, option, values[name])
    if (message !== undefined) return { kind: 'error', message, usage }
  }
  const opt: Opt = {
    upgrade: values.upgrade === true,
    daemon: values.daemon === true,
    test: values.test === true,
    conf: typeof values.conf === 'string' ? values.conf : undefined,
  }
  const ownValues: Record<string, unknown> = {}
  for (const name of Object.keys(own)) {
    if (values[name] !== undefined) ownValues[name] = values[name]
  }
  let loaded: ReturnType<typeof ServerConf.fromYaml<S>>
  try {
    const options = { sections: spec.sections ?? ({} as S), strict: spec.strict ?? false }
    loaded =
      opt.conf === undefined ? ServerConf.fromYaml('', options) : ServerConf.load(opt.conf, options)
  } catch (error) {
    if (error instanceof ConfError)
      return { kind: 'error', message: error.message, usage: undefined }
    throw error
  }
  if (opt.test) {
    const file = opt.conf ?? '(no configuration file)'
    return { kind: 'tested', text: `${file}: configuration is valid\n`, warnings: loaded.warnings }
  }
  const configuration = opt.daemon
    ? new ServerConf({ ...loaded.server, daemon: true })
    : loaded.server
  return {
    kind: 'run',
    opt,
    values: ownValues as CommandLineValues<E>,
    configuration,
    sections: loaded.sections,
    warnings: loaded.warnings,
  }
}

/**
 * Parses the process's command line like {@link tryParseCommandLine}, and acts on what is not
 * a run: `--help` and `--version` print to stdout and exit 0; a bad flag prints one line naming
 * the problem and the usage to stderr, and exits 2; a bad `-c` file prints its one-line
 * {@link ConfError} and exits 1 (no stack trace); `-t` prints the verdict and exits 0.
 * Warnings about the file (unknown or ignored keys) go to stderr.
 * @param spec - the program's name, version and flags
 * @param args - the arguments @defaultValue `process.argv.slice(2)`
 * @example
 * ```ts
 * const { opt, values } = parseCommandLine({
 *   name: 'my-proxy',
 *   version: '1.0.0',
 *   options: { listen: { type: 'string', default: '0.0.0.0:6188', description: 'where to listen' } },
 * })
 * const server = new Server({ opt })
 * ```
 */
export function parseCommandLine<
  E extends CommandLineOptions,
  S extends ConfSections = Record<never, ConfSection>,
>(spec: CommandLineSpec<E, S>, args: readonly string[] = process.argv.slice(2)): CommandLine<E, S> {
  const outcome = tryParseCommandLine(spec, args)
  switch (outcome.kind) {
    case 'run': {
      for (const warning of outcome.warnings)
        process.stderr.write(`${spec.name}: warning: ${warning}\n`)
      const { kind: _kind, ...commandLine } = outcome
      return commandLine
    }
    case 'tested':
      for (const warning of outcome.warnings)
        process.stderr.write(`${spec.name}: warning: ${warning}\n`)
      process.stdout.write(outcome.text)
      return process.exit(0)
    case 'help':
    case 'version':
      process.stdout.write(outcome.text)
      return process.exit(0)
    case 'error':
      if (outcome.usage === undefined) {
        process.stderr.write(`${spec.name}: ${outcome.message}\n`)
        return process.exit(1)
      }
      process.stderr.write(`${spec.name}: ${outcome.message}\n${outcome.usage}`)
      return process.exit(2)
  }
}

/**
 * The `--help` text of a program: usage line, summary, then one line per flag.
 * @param spec - the program's name and flags
 */
export function usageText(spec: CommandLineSpec<CommandLineOptions, ConfSections>): string {
  const rows: Array<[string, string]> = []
  const own = spec.options ?? {}
  for (const [name, option] of [...Object.entries(own), ...sharedOptionsOf(spec)]) {
    const short = option.short === undefined ? '    ' : `-${option.short}, `
    const value = option.type === 'string' ? ` ${option.valueName ?? 'VALUE'}` : ''
    const repeat = option.multiple === true ? ' (repeatable)' : ''
    const fallback =
      option.default === undefined || option.default === false
        ? ''
        : ` (default ${String(option.default)})`
    rows.push([`${short}--${name}${value}`, `${option.description}${repeat}${fallback}`])
  }
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2
  const lines = [`usage: ${spec.name} [options]`]
  if (spec.summary !== undefined) lines.push(spec.summary)
  for (const [flag, text] of rows) lines.push(`  ${flag.padEnd(width)}${text}`)
  return `${lines.join('\n')}\n`
}

/** The usage error of the first value of a flag its `check` refuses, if any. */
function checkValues(name: string, option: CommandLineOption, value: unknown): string | undefined {
  if (option.check === undefined) return undefined
  for (const one of Array.isArray(value) ? value : [value]) {
    if (typeof one !== 'string') continue
    try {
      option.check(one)
    } catch (error) {
      return `--${name} ${JSON.stringify(one)}: ${oneLine(error)}`
    }
  }
  return undefined
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  // parseArgs appends hints on new lines ("To specify an option argument starting with a dash...").
  return message.split('\n')[0] ?? message
}
