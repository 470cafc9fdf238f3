import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfError, confField, defineConfSection, yamlKey } from './conf-section.ts'
import { IGNORED_SERVER_CONF_KEYS, SERVER_CONF_FIELDS, ServerConf } from './configuration.ts'

const dir = mkdtempSync(join(tmpdir(), 'pingora-conf-'))
let fileNumber = 0
function file(text: string): string {
  const path = join(dir, `conf-${++fileNumber}.yaml`)
  writeFileSync(path, text)
  return path
}

function failure(run: () => unknown): ConfError {
  try {
    run()
  } catch (error) {
    if (error instanceof ConfError) return error
    throw error
  }
  throw new Error('expected a ConfError')
}

describe('ServerConf', () => {
  it("has Pingora's defaults", () => {
    const conf = new ServerConf()
    expect({ ...conf }).toEqual({
      version: 1,
      daemon: false,
      errorLog: undefined,
      accessLog: undefined,
      logLevel: 'info',
      pidFile: '/tmp/pingora.pid',
      upgradeSock: '/tmp/pingora_upgrade.sock',
      user: undefined,
      group: undefined,
      workingDirectory: undefined,
      threads: 1,
      caFile: undefined,
      gracePeriodSeconds: undefined,
      gracefulShutdownTimeoutSeconds: undefined,
      clientBindToIpv4: [],
      clientBindToIpv6: [],
      upstreamKeepalivePoolSize: 128,
      upstreamDebugSslKeylog: false,
      maxRetries: 16,
      daemonWaitForReady: false,
      daemonReadyTimeoutSeconds: undefined,
    })
  })

  it('parses every key of a full file', () => {
    const text = `---
version: 1
daemon: true
error_log: /var/log/p.err
access_log: syslog+udp://127.0.0.1:514
log_level: warn
pid_file: /run/p.pid
upgrade_sock: /run/p.sock
user: nobody
group: nogroup
working_directory: /srv
threads: 4
ca_file: /etc/ca.pem
grace_period_seconds: 2.5
graceful_shutdown_timeout_seconds: 1
client_bind_to_ipv4: [127.0.0.2]
client_bind_to_ipv6: ["::1"]
upstream_keepalive_pool_size: 64
upstream_debug_ssl_keylog: true
max_retries: 5
daemon_wait_for_ready: true
daemon_ready_timeout_seconds: 30
`
    const { server, warnings } = ServerConf.load(file(text))
    expect(warnings).toEqual([])
    expect({ ...server }).toEqual({
      version: 1,
      daemon: true,
      errorLog: '/var/log/p.err',
      accessLog: 'syslog+udp://127.0.0.1:514',
      logLevel: 'warn',
      pidFile: '/run/p.pid',
      upgradeSock: '/run/p.sock',
      user: 'nobody',
      group: 'nogroup',
      workingDirectory: '/srv',
      threads: 4,
      caFile: '/etc/ca.pem',
      gracePeriodSeconds: 2.5,
      gracefulShutdownTimeoutSeconds: 1,
      clientBindToIpv4: ['127.0.0.2'],
      clientBindToIpv6: ['::1'],
      upstreamKeepalivePoolSize: 64,
      upstreamDebugSslKeylog: true,
      maxRetries: 5,
      daemonWaitForReady: true,
      daemonReadyTimeoutSeconds: 30,
    })
    // Every key of the table appears in the file above.
    for (const name of Object.keys(SERVER_CONF_FIELDS))
      expect(text).toContain(`\n${yamlKey(name)}:`)
    expect(new ServerConf(ServerConf.fromObject(server.toObject()))).toEqual(server)
  })

  it('treats an empty file and null values as defaults', () => {
    expect({ ...ServerConf.fromYaml('').server }).toEqual({ ...new ServerConf() })
    expect(ServerConf.fromYaml('error_log:\nthreads: ~\n').server.threads).toBe(1)
  })

  it('warns about unknown keys and keys with no meaning on Node, with their line', () => {
    const path = file('threads: 2\nthread: 3\nwork_stealing: false\n')
    const { server, warnings } = ServerConf.load(path)
    expect(server.threads).toBe(2)
    expect(warnings).toEqual([
      `${path}:2: thread: unknown key (ignored)`,
      `${path}:3: work_stealing: ${IGNORED_SERVER_CONF_KEYS.work_stealing} (ignored)`,
    ])
  })

  it('gives one message naming file, line and key for each kind of bad file', () => {
    const cases: Array<[string, string, { strict?: boolean }?]> = [
      ['threads: 2\npid_file: [unclosed\n', ':3: YAML syntax error:'],
      ['version: 1\nthreads: two\n', ':2: threads: must be an integer, got "two"'],
      ['daemon: yes please\n', ':1: daemon: must be true or false, got "yes please"'],
      ['\n\ngrace_period_seconds: -1\n', ':3: grace_period_seconds: must not be negative, got -1'],
      ['max_retries: -3\n', ':1: max_retries: must be an integer >= 0, got -3'],
      ['threads: 0\n', ':1: threads: must be an integer >= 1, got 0'],
      ['client_bind_to_ipv4: 127.0.0.2\n', ':1: client_bind_to_ipv4: must be a list of strings'],
      ['threads: 1\nthreads: 2\n', ':2: YAML syntax error: Map keys must be unique'],
      ['- a\n- b\n', ':1: the document must be a mapping of keys'],
      ['threads: 2\nthread: 3\n', ':2: thread: unknown key', { strict: true }],
    ]
    for (const [text, expected, options] of cases) {
      const path = file(text)
      const error = failure(() => ServerConf.load(path, options))
      expect(error.message.startsWith(`${path}${expected}`), error.message).toBe(true)
      expect(error.message).not.toContain('\n')
      expect(error.file).toBe(path)
    }
    const missing = join(dir, 'missing.yaml')
    expect(failure(() => ServerConf.load(missing)).message).toBe(
      `${missing}: cannot read the file (ENOENT)`,
    )
  })

  it('reads typed user sections, with defaults and the same messages', () => {
    const lb = defineConfSection({
      versionHeader: confField.string('v0', 'the version header'),
      upstreams: confField.strings('the upstreams'),
      retries: confField.integer(1, 'retries'),
    })
    const loaded = ServerConf.fromYaml('threads: 1\nload_balancer:\n  version_header: v2\n', {
      sections: { load_balancer: lb },
    })
    const section: { versionHeader: string; upstreams: readonly string[]; retries: number } =
      loaded.sections.load_balancer
    expect(section).toEqual({ versionHeader: 'v2', upstreams: [], retries: 1 })
    const error = failure(() =>
      ServerConf.fromYaml('load_balancer:\n  retries: -1\n', {
        file: 'lb.yaml',
        sections: { load_balancer: lb },
      }),
    )
    expect(error.message).toBe('lb.yaml:2: load_balancer.retries: must be an integer >= 0, got -1')
    expect(
      ServerConf.fromYaml('load_balancer:\n  retry: 2\n', { sections: { load_balancer: lb } })
        .warnings,
    ).toEqual(['<inline>:2: load_balancer.retry: unknown key (ignored)'])
  })

  it('rejects constructor values of the wrong type or range with exact messages', () => {
    expect(() => new ServerConf({ threads: 0 })).toThrow(
      new RangeError('ServerConf.threads must be an integer >= 1, got 0'),
    )
    expect(() => new ServerConf({ gracePeriodSeconds: -0.5 })).toThrow(
      new RangeError('ServerConf.gracePeriodSeconds must not be negative, got -0.5'),
    )
    expect(() => new ServerConf({ daemon: 'yes' as never })).toThrow(
      new TypeError('ServerConf.daemon must be true or false, got "yes"'),
    )
    expect(() => ServerConf.fromObject([])).toThrow(
      new TypeError('ServerConf document must be a mapping'),
    )
  })

  it('is documented key by key in docs/configuration.md', () => {
    const doc = readFileSync(new URL('../../../../docs/configuration.md', import.meta.url), 'utf8')
    // Table rows as trimmed cells (the formatter pads the columns).
    const rows = doc
      .split('\n')
      .filter((line) => line.startsWith('|'))
      .map((line) =>
        line
          .split('|')
          .slice(1, -1)
          .map((cell) => cell.trim())
          .join(' | '),
      )
    for (const [name, field] of Object.entries(SERVER_CONF_FIELDS)) {
      const fallback = field.default === undefined ? '' : JSON.stringify(field.default)
      expect(rows).toContain(`\`${yamlKey(name)}\` | ${field.kind} | ${fallback} | ${field.doc}`)
    }
    for (const [key, reason] of Object.entries(IGNORED_SERVER_CONF_KEYS)) {
      expect(rows).toContain(`\`${key}\` | ${reason}`)
    }
  })
})
