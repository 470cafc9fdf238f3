import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '@pingora-ts/test-utils'
import { pollUntil } from './poll.ts'

/** Whether Debian's `prometheus` binary is installed. */
export const hasPrometheus: boolean = (() => {
  try {
    execFileSync('prometheus', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

/** A Prometheus server started for one test. */
export interface StartedPrometheus {
  /** Its HTTP API, `http://127.0.0.1:<port>`. */
  readonly url: string
  /** Runs an instant PromQL query; resolves the result vector. */
  query(promql: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>
  /** Stops the server and removes its data. */
  close(): Promise<void>
}

/**
 * Starts `prometheus` on a free port, scraping `target` (`host:port`) every 100 ms, with its
 * data in a fresh temporary folder.
 * @param target - the address to scrape
 */
export async function startPrometheus(target: string): Promise<StartedPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'pingora-prom-'))
  const port = await freePort()
  const config = join(dir, 'prometheus.yml')
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 100ms',
      '  scrape_timeout: 100ms',
      'scrape_configs:',
      '  - job_name: pingora',
      '    static_configs:',
      `      - targets: ['${target}']`,
      '',
    ].join('\n'),
  )
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 10_000) stderr += chunk.toString()
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = `http://127.0.0.1:${port}`
  const close = async () => {
    if (child.exitCode === null) child.kill('SIGTERM')
    await exited
    rmSync(dir, { recursive: true, force: true })
  }
  // Ready when its readiness endpoint answers 200 (bounded).
  try {
    await pollUntil(async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited: ${stderr}`)
      try {
        const response = await fetch(`${url}/-/ready`)
        return response.status === 200 ? true : undefined
      } catch {
        return undefined
      }
    })
  } catch (e) {
    await close()
    throw e
  }
  return {
    url,
    async query(promql) {
      const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`)
      const body = (await response.json()) as {
        status: string
        data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> }
      }
      if (body.status !== 'success') throw new Error(`query failed: ${JSON.stringify(body)}`)
      return body.data.result
    },
    close,
  }
}
