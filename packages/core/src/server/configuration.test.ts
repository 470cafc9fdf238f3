import { describe, expect, it } from 'vitest'
import { ServerConf } from './configuration.ts'

describe('ServerConf', () => {
  it("has Pingora's defaults", () => {
    const conf = new ServerConf()
    expect(conf).toMatchObject({
      version: 1,
      daemon: false,
      errorLog: undefined,
      pidFile: '/tmp/pingora.pid',
      upgradeSock: '/tmp/pingora_upgrade.sock',
      threads: 1,
      listenerTasksPerFd: 1,
      workStealing: true,
      gracePeriodSeconds: undefined,
      gracefulShutdownTimeoutSeconds: undefined,
      clientBindToIpv4: [],
      clientBindToIpv6: [],
      upstreamKeepalivePoolSize: 128,
      upstreamDebugSslKeylog: false,
      maxRetries: 16,
      daemonWaitForReady: false,
    })
  })

  it('maps the snake_case YAML shape, ignoring unknown keys and nulls', () => {
    const init = ServerConf.fromObject({
      version: 1,
      threads: 2,
      pid_file: '/run/p.pid',
      grace_period_seconds: 10,
      client_bind_to_ipv4: ['127.0.0.2'],
      error_log: null,
      my_own_key: 'ignored',
    })
    expect(init).toEqual({
      version: 1,
      threads: 2,
      pidFile: '/run/p.pid',
      gracePeriodSeconds: 10,
      clientBindToIpv4: ['127.0.0.2'],
    })
    const conf = new ServerConf(init)
    expect(conf.toObject()).toMatchObject({
      threads: 2,
      pid_file: '/run/p.pid',
      grace_period_seconds: 10,
      client_bind_to_ipv4: ['127.0.0.2'],
      max_retries: 16,
    })
    expect(conf.toObject()).not.toHaveProperty('error_log')
    expect(new ServerConf(ServerConf.fromObject(conf.toObject()))).toEqual(conf)
  })

  it('rejects values of the wrong type or range with exact messages', () => {
    expect(() => new ServerConf({ threads: -1 })).toThrow(
      new RangeError('ServerConf.threads must be an integer >= 0, got -1'),
    )
    expect(() => new ServerConf({ maxBlockingThreads: 0 })).toThrow(
      new RangeError('ServerConf.maxBlockingThreads must be an integer >= 1, got 0'),
    )
    expect(() => new ServerConf({ gracePeriodSeconds: -0.5 })).toThrow(
      new RangeError(
        'ServerConf.gracePeriodSeconds must be a non-negative number of seconds, got -0.5',
      ),
    )
    expect(() => new ServerConf({ daemon: 'yes' as never })).toThrow(
      new TypeError('ServerConf.daemon must be a boolean'),
    )
    expect(() => ServerConf.fromObject([])).toThrow(
      new TypeError('ServerConf document must be a mapping'),
    )
  })
})
