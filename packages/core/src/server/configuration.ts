/** The grace period of a graceful shutdown unless configured, in seconds (Pingora's `EXIT_TIMEOUT`). */
export const EXIT_TIMEOUT_SECONDS = 300

/** How long services get to stop after the grace period, in seconds (Pingora's default 5). */
export const DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_SECONDS = 5

/** The plain fields of a {@link ServerConf}; what `new ServerConf(init)` accepts (all optional). */
export interface ServerConfFields {
  /** The configuration format version. @defaultValue `1` */
  readonly version: number
  /** Run in the background (not supported yet). @defaultValue `false` */
  readonly daemon: boolean
  /** Where stderr goes when daemonized. @defaultValue `undefined` (stderr) */
  readonly errorLog: string | undefined
  /** The pid file written when daemonized. @defaultValue `'/tmp/pingora.pid'` */
  readonly pidFile: string
  /** The Unix socket listening sockets are handed over on during an upgrade. @defaultValue `'/tmp/pingora_upgrade.sock'` */
  readonly upgradeSock: string
  /** The user to switch to after daemonizing. @defaultValue `undefined` */
  readonly user: string | undefined
  /** The group to switch to after daemonizing. @defaultValue `undefined` */
  readonly group: string | undefined
  /** The working directory of the daemon. @defaultValue `undefined` */
  readonly workingDirectory: string | undefined
  /** Workers per service (reserved for the multi-worker server). @defaultValue `1` */
  readonly threads: number
  /** Parallel accept loops per listening socket (Node accepts on one loop). @defaultValue `1` */
  readonly listenerTasksPerFd: number
  /** Let workers steal work from each other (reserved). @defaultValue `true` */
  readonly workStealing: boolean
  /** The CA bundle for verifying upstream certificates. @defaultValue `undefined` (system CAs) */
  readonly caFile: string | undefined
  /** The s2n-tls config cache size (unused: Node TLS is OpenSSL). @defaultValue `undefined` (10) */
  readonly s2nConfigCacheSize: number | undefined
  /**
   * How long a graceful shutdown waits for in-flight work before destroying what is left, in
   * seconds. Fractions are allowed. @defaultValue `undefined` ({@link EXIT_TIMEOUT_SECONDS} = 300)
   */
  readonly gracePeriodSeconds: number | undefined
  /**
   * How long services get to stop once the grace period is over, in seconds.
   * @defaultValue `undefined` ({@link DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_SECONDS} = 5)
   */
  readonly gracefulShutdownTimeoutSeconds: number | undefined
  /** Source IPv4 addresses for upstream connections (one picked at random). @defaultValue `[]` */
  readonly clientBindToIpv4: readonly string[]
  /** Source IPv6 addresses for upstream connections (one picked at random). @defaultValue `[]` */
  readonly clientBindToIpv6: readonly string[]
  /** The size of the upstream connection pool. @defaultValue `128` */
  readonly upstreamKeepalivePoolSize: number
  /** Dedicated connect thread pools (reserved). @defaultValue `undefined` */
  readonly upstreamConnectOffloadThreadpools: number | undefined
  /** Threads per connect thread pool (reserved). @defaultValue `undefined` */
  readonly upstreamConnectOffloadThreadPerPool: number | undefined
  /** Write TLS keys to `$SSLKEYLOGFILE`. @defaultValue `false` */
  readonly upstreamDebugSslKeylog: boolean
  /** The cap on the proxy's retry loop. @defaultValue `16` */
  readonly maxRetries: number
  /** Retries when handing sockets over during an upgrade. @defaultValue `undefined` (5) */
  readonly upgradeSockConnectAcceptMaxRetries: number | undefined
  /** Blocking thread pool size (reserved; must not be 0). @defaultValue `undefined` */
  readonly maxBlockingThreads: number | undefined
  /** Idle time of blocking threads, in seconds (reserved). @defaultValue `undefined` */
  readonly blockingThreadsTtlSeconds: number | undefined
  /** The daemon's parent waits for the child to be ready before exiting. @defaultValue `false` */
  readonly daemonWaitForReady: boolean
  /** How long the parent waits, in seconds (not 0). @defaultValue `undefined` (600) */
  readonly daemonReadyTimeoutSeconds: number | undefined
  /** How long the child retries notifying the parent, in seconds (not 0). @defaultValue `undefined` (60) */
  readonly daemonNotifyTimeoutSeconds: number | undefined
}

type Kind =
  | 'uint'
  | 'uint?'
  | 'pos-uint?'
  | 'seconds?'
  | 'pos-seconds?'
  | 'bool'
  | 'string'
  | 'string?'
  | 'strings'

/** Field name → [YAML key, kind, default]. One table drives validation and YAML mapping. */
const FIELDS: {
  readonly [K in keyof ServerConfFields]: readonly [string, Kind, ServerConfFields[K]]
} = {
  version: ['version', 'uint', 1],
  daemon: ['daemon', 'bool', false],
  errorLog: ['error_log', 'string?', undefined],
  pidFile: ['pid_file', 'string', '/tmp/pingora.pid'],
  upgradeSock: ['upgrade_sock', 'string', '/tmp/pingora_upgrade.sock'],
  user: ['user', 'string?', undefined],
  group: ['group', 'string?', undefined],
  workingDirectory: ['working_directory', 'string?', undefined],
  threads: ['threads', 'uint', 1],
  listenerTasksPerFd: ['listener_tasks_per_fd', 'uint', 1],
  workStealing: ['work_stealing', 'bool', true],
  caFile: ['ca_file', 'string?', undefined],
  s2nConfigCacheSize: ['s2n_config_cache_size', 'uint?', undefined],
  gracePeriodSeconds: ['grace_period_seconds', 'seconds?', undefined],
  gracefulShutdownTimeoutSeconds: ['graceful_shutdown_timeout_seconds', 'seconds?', undefined],
  clientBindToIpv4: ['client_bind_to_ipv4', 'strings', []],
  clientBindToIpv6: ['client_bind_to_ipv6', 'strings', []],
  upstreamKeepalivePoolSize: ['upstream_keepalive_pool_size', 'uint', 128],
  upstreamConnectOffloadThreadpools: ['upstream_connect_offload_threadpools', 'uint?', undefined],
  upstreamConnectOffloadThreadPerPool: [
    'upstream_connect_offload_thread_per_pool',
    'uint?',
    undefined,
  ],
  upstreamDebugSslKeylog: ['upstream_debug_ssl_keylog', 'bool', false],
  maxRetries: ['max_retries', 'uint', 16],
  upgradeSockConnectAcceptMaxRetries: [
    'upgrade_sock_connect_accept_max_retries',
    'uint?',
    undefined,
  ],
  maxBlockingThreads: ['max_blocking_threads', 'pos-uint?', undefined],
  blockingThreadsTtlSeconds: ['blocking_threads_ttl_seconds', 'seconds?', undefined],
  daemonWaitForReady: ['daemon_wait_for_ready', 'bool', false],
  daemonReadyTimeoutSeconds: ['daemon_ready_timeout_seconds', 'pos-seconds?', undefined],
  daemonNotifyTimeoutSeconds: ['daemon_notify_timeout_seconds', 'pos-seconds?', undefined],
}

const FIELD_NAMES = Object.keys(FIELDS) as Array<keyof ServerConfFields>

/**
 * The server configuration (Pingora's `ServerConf`): every key of Pingora's YAML file as a
 * typed camelCase field, with Pingora's defaults. Port of
 * `pingora-core/src/server/configuration/mod.rs`.
 *
 * {@link ServerConf.fromObject} takes the snake_case shape a YAML parser returns (unknown keys
 * ignored, like Pingora's `#[serde(default)]`), and {@link ServerConf.toObject} gives it back.
 *
 * @example
 * ```ts
 * const server = new Server({ configuration: { gracePeriodSeconds: 30 } })
 * new ServerConf(ServerConf.fromObject(yaml.parse(text)))
 * ```
 */
export class ServerConf implements ServerConfFields {
  /** {@inheritDoc ServerConfFields.version} */
  readonly version: number
  /** {@inheritDoc ServerConfFields.daemon} */
  readonly daemon: boolean
  /** {@inheritDoc ServerConfFields.errorLog} */
  readonly errorLog: string | undefined
  /** {@inheritDoc ServerConfFields.pidFile} */
  readonly pidFile: string
  /** {@inheritDoc ServerConfFields.upgradeSock} */
  readonly upgradeSock: string
  /** {@inheritDoc ServerConfFields.user} */
  readonly user: string | undefined
  /** {@inheritDoc ServerConfFields.group} */
  readonly group: string | undefined
  /** {@inheritDoc ServerConfFields.workingDirectory} */
  readonly workingDirectory: string | undefined
  /** {@inheritDoc ServerConfFields.threads} */
  readonly threads: number
  /** {@inheritDoc ServerConfFields.listenerTasksPerFd} */
  readonly listenerTasksPerFd: number
  /** {@inheritDoc ServerConfFields.workStealing} */
  readonly workStealing: boolean
  /** {@inheritDoc ServerConfFields.caFile} */
  readonly caFile: string | undefined
  /** {@inheritDoc ServerConfFields.s2nConfigCacheSize} */
  readonly s2nConfigCacheSize: number | undefined
  /** {@inheritDoc ServerConfFields.gracePeriodSeconds} */
  readonly gracePeriodSeconds: number | undefined
  /** {@inheritDoc ServerConfFields.gracefulShutdownTimeoutSeconds} */
  readonly gracefulShutdownTimeoutSeconds: number | undefined
  /** {@inheritDoc ServerConfFields.clientBindToIpv4} */
  readonly clientBindToIpv4: readonly string[]
  /** {@inheritDoc ServerConfFields.clientBindToIpv6} */
  readonly clientBindToIpv6: readonly string[]
  /** {@inheritDoc ServerConfFields.upstreamKeepalivePoolSize} */
  readonly upstreamKeepalivePoolSize: number
  /** {@inheritDoc ServerConfFields.upstreamConnectOffloadThreadpools} */
  readonly upstreamConnectOffloadThreadpools: number | undefined
  /** {@inheritDoc ServerConfFields.upstreamConnectOffloadThreadPerPool} */
  readonly upstreamConnectOffloadThreadPerPool: number | undefined
  /** {@inheritDoc ServerConfFields.upstreamDebugSslKeylog} */
  readonly upstreamDebugSslKeylog: boolean
  /** {@inheritDoc ServerConfFields.maxRetries} */
  readonly maxRetries: number
  /** {@inheritDoc ServerConfFields.upgradeSockConnectAcceptMaxRetries} */
  readonly upgradeSockConnectAcceptMaxRetries: number | undefined
  /** {@inheritDoc ServerConfFields.maxBlockingThreads} */
  readonly maxBlockingThreads: number | undefined
  /** {@inheritDoc ServerConfFields.blockingThreadsTtlSeconds} */
  readonly blockingThreadsTtlSeconds: number | undefined
  /** {@inheritDoc ServerConfFields.daemonWaitForReady} */
  readonly daemonWaitForReady: boolean
  /** {@inheritDoc ServerConfFields.daemonReadyTimeoutSeconds} */
  readonly daemonReadyTimeoutSeconds: number | undefined
  /** {@inheritDoc ServerConfFields.daemonNotifyTimeoutSeconds} */
  readonly daemonNotifyTimeoutSeconds: number | undefined

  /**
   * Creates a configuration: Pingora's defaults overridden by `init`.
   * @param init - the fields to set; `undefined` values keep the default
   * @throws TypeError / RangeError naming the field when a value has the wrong type or range
   */
  constructor(init: Partial<ServerConfFields> = {}) {
    const v = <K extends keyof ServerConfFields>(name: K): ServerConfFields[K] =>
      checked(name, init[name])
    this.version = v('version')
    this.daemon = v('daemon')
    this.errorLog = v('errorLog')
    this.pidFile = v('pidFile')
    this.upgradeSock = v('upgradeSock')
    this.user = v('user')
    this.group = v('group')
    this.workingDirectory = v('workingDirectory')
    this.threads = v('threads')
    this.listenerTasksPerFd = v('listenerTasksPerFd')
    this.workStealing = v('workStealing')
    this.caFile = v('caFile')
    this.s2nConfigCacheSize = v('s2nConfigCacheSize')
    this.gracePeriodSeconds = v('gracePeriodSeconds')
    this.gracefulShutdownTimeoutSeconds = v('gracefulShutdownTimeoutSeconds')
    this.clientBindToIpv4 = v('clientBindToIpv4')
    this.clientBindToIpv6 = v('clientBindToIpv6')
    this.upstreamKeepalivePoolSize = v('upstreamKeepalivePoolSize')
    this.upstreamConnectOffloadThreadpools = v('upstreamConnectOffloadThreadpools')
    this.upstreamConnectOffloadThreadPerPool = v('upstreamConnectOffloadThreadPerPool')
    this.upstreamDebugSslKeylog = v('upstreamDebugSslKeylog')
    this.maxRetries = v('maxRetries')
    this.upgradeSockConnectAcceptMaxRetries = v('upgradeSockConnectAcceptMaxRetries')
    this.maxBlockingThreads = v('maxBlockingThreads')
    this.blockingThreadsTtlSeconds = v('blockingThreadsTtlSeconds')
    this.daemonWaitForReady = v('daemonWaitForReady')
    this.daemonReadyTimeoutSeconds = v('daemonReadyTimeoutSeconds')
    this.daemonNotifyTimeoutSeconds = v('daemonNotifyTimeoutSeconds')
  }

  /**
   * Maps the snake_case shape of Pingora's YAML file (as a YAML parser returns it) to
   * constructor input. Unknown keys are ignored and `null` means "default".
   * @param raw - the parsed document
   * @throws TypeError when `raw` is not an object
   */
  static fromObject(raw: unknown): Partial<ServerConfFields> {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new TypeError('ServerConf document must be a mapping')
    }
    const source = raw as Record<string, unknown>
    const init: Record<string, unknown> = {}
    for (const name of FIELD_NAMES) {
      const value = source[FIELDS[name][0]]
      if (value !== undefined && value !== null) init[name] = value
    }
    return init as Partial<ServerConfFields>
  }

  /** The snake_case shape of Pingora's YAML file; unset optional keys are left out. */
  toObject(): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const name of FIELD_NAMES) {
      const value = this[name]
      if (value !== undefined) out[FIELDS[name][0]] = Array.isArray(value) ? [...value] : value
    }
    return out
  }
}

function checked<K extends keyof ServerConfFields>(name: K, value: unknown): ServerConfFields[K] {
  const [, kind, fallback] = FIELDS[name]
  if (value === undefined) return (Array.isArray(fallback) ? [] : fallback) as ServerConfFields[K]
  const where = `ServerConf.${name}`
  switch (kind) {
    case 'bool':
      if (typeof value !== 'boolean') throw new TypeError(`${where} must be a boolean`)
      break
    case 'string':
    case 'string?':
      if (typeof value !== 'string') throw new TypeError(`${where} must be a string`)
      break
    case 'strings':
      if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
        throw new TypeError(`${where} must be an array of strings`)
      }
      return Object.freeze([...value]) as unknown as ServerConfFields[K]
    case 'uint':
    case 'uint?':
    case 'pos-uint?':
      if (typeof value !== 'number') throw new TypeError(`${where} must be a number`)
      if (!Number.isSafeInteger(value) || value < (kind === 'pos-uint?' ? 1 : 0)) {
        throw new RangeError(
          `${where} must be an integer >= ${kind === 'pos-uint?' ? 1 : 0}, got ${value}`,
        )
      }
      break
    case 'seconds?':
    case 'pos-seconds?':
      if (typeof value !== 'number') throw new TypeError(`${where} must be a number`)
      if (!Number.isFinite(value) || value < 0 || (kind === 'pos-seconds?' && value === 0)) {
        throw new RangeError(
          `${where} must be a ${kind === 'pos-seconds?' ? 'positive' : 'non-negative'} number of seconds, got ${value}`,
        )
      }
      break
  }
  return value as ServerConfFields[K]
}
