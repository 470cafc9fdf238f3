import net from 'node:net'

/** The default bound on idle pooled connections, across all peers (Pingora's 128). */
export const DEFAULT_POOL_SIZE = 128

/** Paths of a PEM certificate (chain) and its private key. */
export interface CertKeyFiles {
  /** Path of the PEM certificate chain. */
  readonly certFile: string
  /** Path of the PEM private key. */
  readonly keyFile: string
}

/** The plain-data form of {@link ConnectorOptions}; every field is optional. */
export interface ConnectorOptionsInit {
  /** {@inheritDoc ConnectorOptions.caFile} */
  caFile?: string | undefined
  /** {@inheritDoc ConnectorOptions.certKeyFile} */
  certKeyFile?: CertKeyFiles | undefined
  /** {@inheritDoc ConnectorOptions.debugSslKeylog} */
  debugSslKeylog?: boolean | undefined
  /** {@inheritDoc ConnectorOptions.keepalivePoolSize} */
  keepalivePoolSize?: number | undefined
  /** {@inheritDoc ConnectorOptions.bindToV4} */
  bindToV4?: readonly string[] | undefined
  /** {@inheritDoc ConnectorOptions.bindToV6} */
  bindToV6?: readonly string[] | undefined
}

/**
 * The server configuration fields a connector reads (a structural subset of the server's
 * `ServerConf`, so any object with these optional keys works).
 */
export interface ConnectorServerConf {
  /** CA file that verifies upstream certificates. */
  readonly caFile?: string | undefined
  /** Default client certificate and key files for upstream mTLS. */
  readonly certKeyFile?: CertKeyFiles | undefined
  /** Total bound on idle upstream connections. */
  readonly upstreamKeepalivePoolSize?: number | undefined
  /** Local IPv4 addresses to bind upstream connections to (one picked at random). */
  readonly clientBindToIpv4?: readonly string[] | undefined
  /** Local IPv6 addresses to bind upstream connections to (one picked at random). */
  readonly clientBindToIpv6?: readonly string[] | undefined
  /** Whether to log upstream TLS secrets to `SSLKEYLOGFILE`. */
  readonly upstreamDebugSslKeylog?: boolean | undefined
}

/**
 * Connector-wide settings: default CA and client certificate, pool size, source addresses
 * (Pingora's `ConnectorOptions`, `pingora-core/src/connectors/mod.rs`).
 */
export class ConnectorOptions {
  /**
   * A PEM file of CA certificates used when a peer sets no `ca`; `undefined` uses Node's
   * default roots. @defaultValue `undefined`
   */
  readonly caFile: string | undefined
  /** A client certificate used for mTLS when a peer sets none. @defaultValue `undefined` */
  readonly certKeyFile: CertKeyFiles | undefined
  /**
   * Whether to append upstream TLS secrets to the file named by `SSLKEYLOGFILE` (for
   * Wireshark). Never enable in production. @defaultValue `false`
   */
  readonly debugSslKeylog: boolean
  /** How many idle connections the pool keeps in total, across all peers. @defaultValue `128` */
  readonly keepalivePoolSize: number
  /**
   * Local IPv4 addresses; each new connection to an IPv4 peer binds to one picked at random,
   * unless the peer sets `bindTo`. @defaultValue `[]`
   */
  readonly bindToV4: readonly string[]
  /** Local IPv6 addresses, used like {@link ConnectorOptions.bindToV4}. @defaultValue `[]` */
  readonly bindToV6: readonly string[]

  /**
   * Creates options.
   * @param init - the fields to set
   * @throws RangeError when `keepalivePoolSize` is not an integer >= 0
   * @throws TypeError when a bind address is not an IP address of the right family
   */
  constructor(init: ConnectorOptionsInit = {}) {
    const size = init.keepalivePoolSize ?? DEFAULT_POOL_SIZE
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new RangeError(`keepalivePoolSize must be an integer >= 0, got ${String(size)}`)
    }
    this.caFile = init.caFile
    this.certKeyFile = init.certKeyFile
    this.debugSslKeylog = init.debugSslKeylog ?? false
    this.keepalivePoolSize = size
    this.bindToV4 = Object.freeze(checkIps(init.bindToV4 ?? [], 4))
    this.bindToV6 = Object.freeze(checkIps(init.bindToV6 ?? [], 6))
  }

  /**
   * Reads the connector settings from the server configuration (Pingora's
   * `ConnectorOptions::from_server_conf`).
   * @param conf - the server configuration (`caFile`, `certKeyFile`,
   *   `upstreamKeepalivePoolSize`, `clientBindToIpv4/6`, `upstreamDebugSslKeylog`)
   */
  static fromServerConf(conf: ConnectorServerConf): ConnectorOptions {
    return new ConnectorOptions({
      caFile: conf.caFile,
      certKeyFile: conf.certKeyFile,
      debugSslKeylog: conf.upstreamDebugSslKeylog,
      keepalivePoolSize: conf.upstreamKeepalivePoolSize,
      bindToV4: conf.clientBindToIpv4,
      bindToV6: conf.clientBindToIpv6,
    })
  }
}

/**
 * Anything a connector's constructor accepts: {@link ConnectorOptions}, its plain form, or a
 * server configuration (recognised by its `upstreamKeepalivePoolSize`, `clientBindToIpv4`,
 * `clientBindToIpv6` or `upstreamDebugSslKeylog` key and read with
 * {@link ConnectorOptions.fromServerConf}).
 */
export type ConnectorOptionsInput = ConnectorOptions | ConnectorOptionsInit | ConnectorServerConf

const SERVER_CONF_KEYS = [
  'upstreamKeepalivePoolSize',
  'clientBindToIpv4',
  'clientBindToIpv6',
  'upstreamDebugSslKeylog',
] as const

/**
 * Resolves a connector constructor's argument to {@link ConnectorOptions}.
 * @internal
 */
export function toConnectorOptions(input: ConnectorOptionsInput | undefined): ConnectorOptions {
  if (input === undefined) return new ConnectorOptions()
  if (input instanceof ConnectorOptions) return input
  for (const key of SERVER_CONF_KEYS) {
    if (key in input) return ConnectorOptions.fromServerConf(input as ConnectorServerConf)
  }
  return new ConnectorOptions(input as ConnectorOptionsInit)
}

function checkIps(ips: readonly string[], family: 4 | 6): string[] {
  const out: string[] = []
  for (const ip of ips) {
    // Pingora accepts `ip` and `ip:port`-less forms only; brackets are tolerated for IPv6.
    const bare = family === 6 && ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip
    if (net.isIP(bare) !== family) {
      throw new TypeError(`bindToV${family} entries must be IPv${family} addresses, got "${ip}"`)
    }
    out.push(bare)
  }
  return out
}
