import { readFileSync } from 'node:fs'
import {
  ConfError,
  type ConfSection,
  type ConfValues,
  confField,
  type ParseConfOptions,
  parseConfYaml,
  valuesFrom,
  yamlKey,
} from './conf-section.ts'

/** The grace period of a graceful shutdown unless configured, in seconds (Pingora's `EXIT_TIMEOUT`). */
export const EXIT_TIMEOUT_SECONDS = 300

/** How long services get to stop after the grace period, in seconds (Pingora's default 5). */
export const DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_SECONDS = 5

/** How long `daemon_wait_for_ready` waits for the daemon unless configured, in seconds (Pingora's 600). */
export const DEFAULT_DAEMON_READY_TIMEOUT_SECONDS = 600

/**
 * Every key of the server's YAML file: camelCase field → kind, default, description. This one
 * table drives the {@link ServerConf} type, its defaults, its validation, the YAML mapping and
 * `docs/configuration.md` (a test keeps the doc in step).
 */
export const SERVER_CONF_FIELDS = {
  version: confField.integer(1, 'The configuration format version.'),
  daemon: confField.boolean(false, 'Run in the background, with a pid file (`-d` sets it too).'),
  errorLog: confField.optionalString(
    'The file stdout and stderr are appended to when daemonized; unset: they are discarded.',
  ),
  accessLog: confField.optionalString(
    'Where `@pingora-ts/observability` writes the access log: a file, `stdout`, `stderr`, `syslog+udp://host:port` or `syslog+unix:/path`; unset: no access log.',
  ),
  logLevel: confField.string(
    'info',
    'The least level `@pingora-ts/observability` writes to the error log (`error_log`, else stderr): `trace`, `debug`, `info`, `warn`, `error`, `fatal` or `silent`.',
  ),
  pidFile: confField.string(
    '/tmp/pingora.pid',
    'The pid file of the running instance: written once listening, moved to the new process by an upgrade, removed on exit.',
  ),
  upgradeSock: confField.string(
    '/tmp/pingora_upgrade.sock',
    'The Unix socket the running instance listens on for upgrade requests (`-u` connects to it).',
  ),
  user: confField.optionalString('The user a daemon switches to (needs root).'),
  group: confField.optionalString('The group a daemon switches to (needs root).'),
  workingDirectory: confField.optionalString('The working directory of a daemon.'),
  threads: confField.positiveInteger(
    1,
    'Worker processes serving the same listeners (node:cluster); 1 serves in the main process.',
  ),
  caFile: confField.optionalString(
    'The PEM CA bundle that verifies upstream certificates; unset: the system store.',
  ),
  gracePeriodSeconds: confField.optionalSeconds(
    'How long a graceful shutdown waits for in-flight work; unset: 300. It ends as soon as the work is done.',
  ),
  gracefulShutdownTimeoutSeconds: confField.optionalSeconds(
    'How long services get to stop after the grace period (connections destroyed); unset: 5.',
  ),
  clientBindToIpv4: confField.strings(
    'Source IPv4 addresses of upstream connections (one picked at random).',
  ),
  clientBindToIpv6: confField.strings(
    'Source IPv6 addresses of upstream connections (one picked at random).',
  ),
  upstreamKeepalivePoolSize: confField.integer(128, 'Idle upstream connections kept, in total.'),
  upstreamDebugSslKeylog: confField.boolean(
    false,
    'Append upstream TLS secrets to the file named by `$SSLKEYLOGFILE`.',
  ),
  maxRetries: confField.integer(16, 'The cap on the proxy retry loop.'),
  daemonWaitForReady: confField.boolean(
    false,
    'With `daemon`, the launching command returns only once the listeners accept.',
  ),
  daemonReadyTimeoutSeconds: confField.optionalPositiveSeconds(
    'How long the launching command waits for the daemon to be ready; unset: 600.',
  ),
} as const

/**
 * Pingora's keys that mean nothing on Node.js: accepted with a warning, never applied.
 * Key → why.
 */
export const IGNORED_SERVER_CONF_KEYS: Readonly<Record<string, string>> = {
  listener_tasks_per_fd: 'one event loop accepts per listener; use threads for more processes',
  work_stealing: 'Node.js has no tokio runtime; use threads for more processes',
  s2n_config_cache_size: 'TLS is OpenSSL through node:tls',
  upstream_connect_offload_threadpools: 'connects run on the event loop',
  upstream_connect_offload_thread_per_pool: 'connects run on the event loop',
  max_blocking_threads: 'Node.js has no blocking thread pool to size (see UV_THREADPOOL_SIZE)',
  blocking_threads_ttl_seconds: 'Node.js has no blocking thread pool to size',
  upgrade_sock_connect_accept_max_retries:
    'sockets are inherited by the new process, not sent over upgrade_sock',
  daemon_notify_timeout_seconds: 'the daemon reports ready over a pipe, not with a signal',
}

/** The plain fields of a {@link ServerConf}; see `docs/configuration.md` for each key. */
export type ServerConfFields = ConfValues<typeof SERVER_CONF_FIELDS>

/** Options of {@link ServerConf.load} and {@link ServerConf.fromYaml}. */
export interface LoadConfOptions<S extends Readonly<Record<string, ConfSection>>> {
  /** The program's own top-level sections, by YAML key. */
  readonly sections?: S
  /** Unknown keys are errors instead of warnings. @defaultValue `false` */
  readonly strict?: boolean
}

/** A loaded configuration file: the server's part, the program's sections, the warnings. */
export interface LoadedConf<S extends Readonly<Record<string, ConfSection>>> {
  /** The server configuration. */
  readonly server: ServerConf
  /** Each declared section's values (defaults when the section is absent). */
  readonly sections: { readonly [K in keyof S]: ConfValues<S[K]['fields']> }
  /** One line per unknown or ignored key (`conf.yaml:3: thread: unknown key (ignored)`). */
  readonly warnings: readonly string[]
}

/**
 * The server configuration (Pingora's `ServerConf`): every key of Pingora's YAML file that
 * means something on Node.js, as typed camelCase fields with Pingora's defaults. Port of
 * `pingora-core/src/server/configuration/mod.rs`.
 */
export interface ServerConf extends ServerConfFields {
  /** The snake_case shape of the YAML file; unset optional keys are left out. */
  toObject(): Record<string, unknown>
}

/** The {@link ServerConf} constructor and loaders. */
export interface ServerConfConstructor {
  /**
   * Creates a configuration: Pingora's defaults overridden by `init`.
   * @param init - the fields to set; `undefined` values keep the default
   * @throws TypeError / RangeError naming the field when a value has the wrong type or range
   */
  new (init?: Partial<ServerConfFields>): ServerConf
  /** The table of keys, kinds, defaults and descriptions. */
  readonly fields: typeof SERVER_CONF_FIELDS
  /**
   * Maps the snake_case shape of the YAML file to constructor input: unknown keys are
   * ignored and `null` means "default".
   * @param raw - the parsed document
   * @throws TypeError when `raw` is not a mapping
   */
  fromObject(raw: unknown): Partial<ServerConfFields>
  /**
   * Parses YAML text: the server keys and the program's sections.
   * @param text - the YAML text
   * @param options - sections, strictness and the file name for messages
   * @throws ConfError one line naming file, line and key
   */
  fromYaml<S extends Readonly<Record<string, ConfSection>> = Record<never, ConfSection>>(
    text: string,
    options?: LoadConfOptions<S> & ParseConfOptions,
  ): LoadedConf<S>
  /**
   * Reads and parses a YAML file (Pingora's `ServerConf::load_from_yaml`).
   * @param path - the file
   * @param options - sections and strictness
   * @throws ConfError one line naming file, line and key (or why the file cannot be read)
   */
  load<S extends Readonly<Record<string, ConfSection>> = Record<never, ConfSection>>(
    path: string,
    options?: LoadConfOptions<S>,
  ): LoadedConf<S>
}

const FIELD_NAMES = Object.keys(SERVER_CONF_FIELDS) as Array<keyof ServerConfFields>

class ServerConfImpl {
  static readonly fields = SERVER_CONF_FIELDS

  constructor(init: Partial<ServerConfFields> = {}) {
    Object.assign(this, valuesFrom(SERVER_CONF_FIELDS, init, 'ServerConf'))
  }

  toObject(): Record<string, unknown> {
    const self = this as unknown as ServerConfFields
    const out: Record<string, unknown> = {}
    for (const name of FIELD_NAMES) {
      const value = self[name]
      if (value !== undefined) out[yamlKey(name)] = Array.isArray(value) ? [...value] : value
    }
    return out
  }

  static fromObject(raw: unknown): Partial<ServerConfFields> {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new TypeError('ServerConf document must be a mapping')
    }
    const source = raw as Record<string, unknown>
    const init: Record<string, unknown> = {}
    for (const name of FIELD_NAMES) {
      const value = source[yamlKey(name)]
      if (value !== undefined && value !== null) init[name] = value
    }
    return init as Partial<ServerConfFields>
  }

  static fromYaml<S extends Readonly<Record<string, ConfSection>>>(
    text: string,
    options: LoadConfOptions<S> & ParseConfOptions = {},
  ): LoadedConf<S> {
    const declared = options.sections ?? ({} as S)
    const parsed = parseConfYaml(
      text,
      SERVER_CONF_FIELDS,
      declared,
      IGNORED_SERVER_CONF_KEYS,
      options,
    )
    const sections: Record<string, unknown> = {}
    for (const [key, section] of Object.entries(declared)) {
      sections[key] = Object.freeze(valuesFrom(section.fields, parsed.sections[key] ?? {}, key))
    }
    return {
      server: new ServerConf(parsed.root as Partial<ServerConfFields>),
      sections: sections as LoadedConf<S>['sections'],
      warnings: parsed.warnings,
    }
  }

  static load<S extends Readonly<Record<string, ConfSection>>>(
    path: string,
    options: LoadConfOptions<S> = {},
  ): LoadedConf<S> {
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error'
      throw new ConfError(path, undefined, undefined, `cannot read the file (${code})`)
    }
    return ServerConfImpl.fromYaml(text, { ...options, file: path })
  }
}

/**
 * The server configuration (Pingora's `ServerConf`); see the {@link ServerConf} interface.
 *
 * @example
 * ```ts
 * const server = new Server({ configuration: { gracePeriodSeconds: 30 } })
 * const { server: conf, warnings } = ServerConf.load('/etc/pingora/conf.yaml')
 * ```
 */
export const ServerConf: ServerConfConstructor = ServerConfImpl as unknown as ServerConfConstructor
