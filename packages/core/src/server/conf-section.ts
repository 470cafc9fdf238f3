import { isMap, isScalar, LineCounter, type Node, parseDocument, type YAMLMap } from 'yaml'

/**
 * One key of a configuration section: its kind (which drives validation and the docs), default
 * and description. Build it with the {@link confField} helpers.
 */
export interface ConfField<T> {
  /** How the value is checked, and how the docs name its type. */
  readonly kind: ConfFieldKind
  /** The value when the key is absent or `null`. */
  readonly default: T
  /** One line for the docs. */
  readonly doc: string
}

/** The value kinds a configuration key can have. */
export type ConfFieldKind =
  | 'boolean'
  | 'string'
  | 'string?'
  | 'strings'
  | 'integer'
  | 'integer?'
  | 'positive integer'
  | 'positive integer?'
  | 'seconds?'
  | 'positive seconds?'

/** A section's keys: camelCase field name → field. The YAML key is the snake_case of the name. */
export type ConfFields = Readonly<Record<string, ConfField<unknown>>>

/** The typed values of a section: one property per field. */
export type ConfValues<F extends ConfFields> = {
  readonly [K in keyof F]: F[K] extends ConfField<infer T> ? T : never
}

/** Builders of {@link ConfField}s, for {@link ServerConf}'s table and for users' own sections. */
export const confField = {
  /** A boolean. */
  boolean: (defaultValue: boolean, doc: string): ConfField<boolean> => ({
    kind: 'boolean',
    default: defaultValue,
    doc,
  }),
  /** A string with a default. */
  string: (defaultValue: string, doc: string): ConfField<string> => ({
    kind: 'string',
    default: defaultValue,
    doc,
  }),
  /** An optional string. */
  optionalString: (doc: string): ConfField<string | undefined> => ({
    kind: 'string?',
    default: undefined,
    doc,
  }),
  /** A list of strings (default empty). */
  strings: (doc: string): ConfField<readonly string[]> => ({
    kind: 'strings',
    default: Object.freeze([]),
    doc,
  }),
  /** An integer >= 0. */
  integer: (defaultValue: number, doc: string): ConfField<number> => ({
    kind: 'integer',
    default: defaultValue,
    doc,
  }),
  /** An integer >= 1. */
  positiveInteger: (defaultValue: number, doc: string): ConfField<number> => ({
    kind: 'positive integer',
    default: defaultValue,
    doc,
  }),
  /** An optional integer >= 0. */
  optionalInteger: (doc: string): ConfField<number | undefined> => ({
    kind: 'integer?',
    default: undefined,
    doc,
  }),
  /** An optional number of seconds >= 0 (fractions allowed). */
  optionalSeconds: (doc: string): ConfField<number | undefined> => ({
    kind: 'seconds?',
    default: undefined,
    doc,
  }),
  /** An optional number of seconds > 0 (fractions allowed). */
  optionalPositiveSeconds: (doc: string): ConfField<number | undefined> => ({
    kind: 'positive seconds?',
    default: undefined,
    doc,
  }),
} as const

/**
 * A user-defined configuration section: a typed block of keys under one top-level key of the
 * YAML file, checked like the server's own keys (one message naming file, line and key).
 *
 * @example
 * ```ts
 * const LB_SECTION = defineConfSection({
 *   versionHeader: confField.string('v1', 'the X-Version header of every response'),
 * })
 * const { sections } = loadConf('conf.yaml', { sections: { load_balancer: LB_SECTION } })
 * sections.load_balancer.versionHeader // string
 * ```
 */
export interface ConfSection<F extends ConfFields = ConfFields> {
  /** The keys. */
  readonly fields: F
}

/**
 * Defines a {@link ConfSection}.
 * @param fields - the keys, camelCase; their YAML keys are snake_case
 */
export function defineConfSection<F extends ConfFields>(fields: F): ConfSection<F> {
  return { fields }
}

/** A configuration file problem: names the file, the line and the key in one line. */
export class ConfError extends Error {
  /** The file, or `<inline>` for text. */
  readonly file: string
  /** The 1-based line, when known. */
  readonly line: number | undefined
  /** The dotted key path, when the problem is one key. */
  readonly key: string | undefined

  /**
   * Creates the error; `message` is `file:line: key: problem`.
   * @param file - the file
   * @param line - the line, 1-based
   * @param key - the key path
   * @param problem - what is wrong
   */
  constructor(file: string, line: number | undefined, key: string | undefined, problem: string) {
    const where = line === undefined ? file : `${file}:${line}`
    super(key === undefined ? `${where}: ${problem}` : `${where}: ${key}: ${problem}`)
    this.name = 'ConfError'
    this.file = file
    this.line = line
    this.key = key
  }
}

/**
 * Checks one value against a field kind.
 * @returns the problem, or `undefined` when the value fits
 * @internal
 */
export function checkValue(kind: ConfFieldKind, value: unknown): string | undefined {
  const got = describe(value)
  switch (kind) {
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `must be true or false, got ${got}`
    case 'string':
    case 'string?':
      return typeof value === 'string' ? undefined : `must be a string, got ${got}`
    case 'strings':
      return Array.isArray(value) && value.every((item) => typeof item === 'string')
        ? undefined
        : `must be a list of strings, got ${got}`
    case 'integer':
    case 'integer?':
    case 'positive integer':
    case 'positive integer?': {
      const min = kind.startsWith('positive') ? 1 : 0
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
        return `must be an integer, got ${got}`
      }
      return value < min ? `must be an integer >= ${min}, got ${got}` : undefined
    }
    case 'seconds?':
    case 'positive seconds?': {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        return `must be a number of seconds, got ${got}`
      }
      if (value < 0) return `must not be negative, got ${got}`
      return kind === 'positive seconds?' && value === 0 ? 'must be more than 0, got 0' : undefined
    }
  }
}

/**
 * Builds a section's values from `init` (camelCase names): defaults for what is missing, a
 * `TypeError`/`RangeError` naming `prefix.name` for a bad value.
 * @internal
 */
export function valuesFrom<F extends ConfFields>(
  fields: F,
  init: Readonly<Record<string, unknown>>,
  prefix: string,
): ConfValues<F> {
  const out: Record<string, unknown> = {}
  for (const [name, field] of Object.entries(fields)) {
    const value = init[name]
    if (value === undefined) {
      out[name] = field.default
      continue
    }
    const problem = checkValue(field.kind, value)
    if (problem !== undefined) {
      const message = `${prefix}.${name} ${problem}`
      throw typeof value === typeof field.default || field.kind.endsWith('?')
        ? new RangeError(message)
        : new TypeError(message)
    }
    out[name] = Array.isArray(value) ? Object.freeze([...value]) : value
  }
  return out as ConfValues<F>
}

/**
 * Converts a camelCase field name to its YAML key (`gracePeriodSeconds` → `grace_period_seconds`).
 * @internal
 */
export function yamlKey(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)
}

/** Options of {@link parseConfYaml}. */
export interface ParseConfOptions {
  /** The file name used in messages. @defaultValue `'<inline>'` */
  readonly file?: string
  /** Unknown keys are errors instead of warnings. @defaultValue `false` */
  readonly strict?: boolean
}

/** A parsed document: checked values by section, and the warnings (one line each). */
export interface ParsedConf {
  /** Top-level values (camelCase field names) of the root section. */
  readonly root: Record<string, unknown>
  /** Values of each extra section (camelCase field names), by YAML key. */
  readonly sections: Record<string, Record<string, unknown>>
  /** Lines such as `conf.yaml:3: unknown key "thread" (ignored)`. */
  readonly warnings: string[]
}

/**
 * Parses YAML text against a root table, extra sections and a list of keys accepted but
 * ignored: every problem becomes one {@link ConfError} naming file, line and key.
 * @internal
 */
export function parseConfYaml(
  text: string,
  root: ConfFields,
  sections: Readonly<Record<string, ConfSection>>,
  ignored: Readonly<Record<string, string>>,
  options: ParseConfOptions,
): ParsedConf {
  const file = options.file ?? '<inline>'
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true })
  const syntax = doc.errors[0]
  if (syntax !== undefined) {
    const line = syntax.linePos?.[0]?.line
    const problem = (syntax.message.split('\n')[0] ?? 'YAML syntax error').replace(
      / at line \d+, column \d+:?$/,
      '',
    )
    throw new ConfError(file, line, undefined, `YAML syntax error: ${problem}`)
  }
  const warnings: string[] = []
  const lineOf = (node: Node | null | undefined): number | undefined => {
    const offset = node?.range?.[0]
    return offset === undefined ? undefined : lineCounter.linePos(offset).line
  }
  const parsed: ParsedConf = { root: {}, sections: {}, warnings }
  const contents = doc.contents
  if (contents === null || (isScalar(contents) && contents.value === null)) return parsed
  if (!isMap(contents)) {
    throw new ConfError(file, lineOf(contents), undefined, 'the document must be a mapping of keys')
  }
  const readMap = (
    map: YAMLMap,
    fields: ConfFields,
    path: string,
    into: Record<string, unknown>,
    topLevel: boolean,
  ): void => {
    const byKey = new Map<string, string>()
    for (const name of Object.keys(fields)) byKey.set(yamlKey(name), name)
    for (const pair of map.items) {
      const keyNode = pair.key as Node | null
      const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode)
      const keyPath = path === '' ? key : `${path}.${key}`
      const line = lineOf(keyNode) ?? lineOf(pair.value as Node | null)
      const name = byKey.get(key)
      const valueNode = pair.value as Node | null
      if (name === undefined) {
        const section = topLevel ? sections[key] : undefined
        if (section !== undefined) {
          const values: Record<string, unknown> = {}
          if (valueNode !== null && !(isScalar(valueNode) && valueNode.value === null)) {
            if (!isMap(valueNode)) {
              throw new ConfError(
                file,
                line,
                keyPath,
                `must be a mapping, got ${describe(valueNode.toJSON())}`,
              )
            }
            readMap(valueNode, section.fields, keyPath, values, false)
          }
          parsed.sections[key] = values
          continue
        }
        const reason = topLevel ? ignored[key] : undefined
        if (reason !== undefined) {
          warnings.push(`${file}:${line}: ${keyPath}: ${reason} (ignored)`)
          continue
        }
        if (options.strict === true) {
          throw new ConfError(file, line, keyPath, 'unknown key')
        }
        warnings.push(`${file}:${line}: ${keyPath}: unknown key (ignored)`)
        continue
      }
      const value: unknown = valueNode === null ? null : valueNode.toJSON()
      if (value === null) continue
      const field = fields[name] as ConfField<unknown>
      const problem = checkValue(field.kind, value)
      if (problem !== undefined) throw new ConfError(file, line, keyPath, problem)
      into[name] = value
    }
  }
  readMap(contents, root, '', parsed.root, true)
  return parsed
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (Array.isArray(value)) return 'a list'
  if (value !== null && typeof value === 'object') return 'a mapping'
  return String(value)
}
