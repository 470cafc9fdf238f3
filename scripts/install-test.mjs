#!/usr/bin/env node
// The release path, end to end, as a user meets it (run by CI after `pnpm build`):
// 1. starts a real npm registry (Verdaccio, pinned) on a free port of 127.0.0.1, with the
//    `@pingora-ts` scope local and everything else proxied to the npm registry;
// 2. publishes every package to it with `changeset publish` (the command of the release
//    workflow; provenance off: it needs GitHub Actions), which packs through the `prepack` guard;
// 3. in a fresh directory outside the repository, installs only `@pingora-ts/proxy` and
//    `@pingora-ts/load-balancing` with npm (core, http, error... come transitively);
// 4. runs the quick start's first program (docs/quick-start.md, the block starting with
//    `// proxy.ts`) unchanged with plain `node` (type stripping), in front of an origin on
//    127.0.0.1:8000 as the page says, and checks the response and the header the proxy adds.
// Prints `install test: ok` or the reason and exits 1. Needs ports 8000 and 6188 free.
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const VERDACCIO = 'verdaccio@6.8.0'
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const work = mkdtempSync(join(tmpdir(), 'pingora-install-'))
const children = []
const log = (line) => process.stdout.write(`install test: ${line}\n`)

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** Resolves once `url` answers, or rejects after `ms` (the registry's own start-up time). */
async function waitFor(url, ms, child) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: the process exited (${child.exitCode})`)
    try {
      const response = await fetch(url)
      if (response.ok) return
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`${url} did not answer within ${ms} ms`)
}

/** Connects to a port until it accepts (the proxy under test printing nothing when ready). */
async function waitForPort(port, ms, child) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the quick start exited (${child.exitCode})`)
    const ok = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1')
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`nothing listened on 127.0.0.1:${port} within ${ms} ms`)
}

/**
 * `fetch`, tried again once after a network error: the registry closes idle keep-alive
 * connections, and a request written on one just as it closes fails with EPIPE.
 */
async function request(url, init) {
  try {
    return await fetch(url, init)
  } catch (error) {
    if (!(error instanceof TypeError)) throw error
    return fetch(url, init)
  }
}

function run(command, args, options) {
  return execFileSync(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    ...options,
  })
}

async function main() {
  // 1. The registry.
  const port = await freePort()
  const registry = `http://127.0.0.1:${port}/`
  writeFileSync(
    join(work, 'verdaccio.yaml'),
    [
      `storage: ${join(work, 'storage')}`,
      'auth:',
      `  htpasswd: { file: ${join(work, 'htpasswd')} }`,
      'uplinks:',
      '  npmjs: { url: https://registry.npmjs.org/ }',
      'packages:',
      "  '@pingora-ts/*': { access: $all, publish: $authenticated }",
      "  '**': { access: $all, proxy: npmjs }",
      'log: { type: stdout, format: pretty, level: warn }',
      '',
    ].join('\n'),
  )
  const verdaccio = spawn(
    'npx',
    ['-y', VERDACCIO, '--config', join(work, 'verdaccio.yaml'), '--listen', `127.0.0.1:${port}`],
    { stdio: ['ignore', 'ignore', 'inherit'], detached: true },
  )
  children.push(verdaccio)
  await waitFor(`${registry}-/ping`, 180_000, verdaccio)
  log(`${VERDACCIO} on ${registry}`)

  // A user (Verdaccio's htpasswd plugin registers on first login), as `npm adduser` would.
  const user = await request(`${registry}-/user/org.couchdb.user:ci`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'ci', password: 'ci-password', type: 'user', roles: [] }),
  })
  const { token } = await user.json()
  if (typeof token !== 'string') throw new Error(`no token from the registry (${user.status})`)
  const npmrc = join(work, '.npmrc')
  writeFileSync(npmrc, `registry=${registry}\n//127.0.0.1:${port}/:_authToken=${token}\n`)
  const env = {
    ...process.env,
    NPM_CONFIG_USERCONFIG: npmrc,
    npm_config_registry: registry,
    npm_config_provenance: 'false',
  }

  // 2. Publish every package the way the release workflow does.
  run('pnpm', ['changeset', 'publish', '--no-git-tag'], { cwd: root, env })
  const names = JSON.parse(run('pnpm', ['ls', '-r', '--depth', '-1', '--json'], { cwd: root }))
    .filter((entry) => entry.private !== true && entry.name?.startsWith('@pingora-ts/'))
    .map((entry) => entry.name)
  for (const name of names) {
    const response = await request(`${registry}${name.replace('/', '%2f')}`)
    if (!response.ok) throw new Error(`${name} was not published (${response.status})`)
  }
  log(`published ${names.length} packages: ${names.join(' ')}`)

  // 3. A fresh project outside the repository, two packages installed.
  const app = join(work, 'app')
  run('mkdir', ['-p', app])
  writeFileSync(
    join(app, 'package.json'),
    `${JSON.stringify({ name: 'my-proxy', private: true, type: 'module' }, null, 2)}\n`,
  )
  run(
    'npm',
    ['install', '--no-audit', '--no-fund', '@pingora-ts/proxy', '@pingora-ts/load-balancing'],
    {
      cwd: app,
      env,
    },
  )
  log('installed @pingora-ts/proxy and @pingora-ts/load-balancing in a fresh project')

  // 4. The quick start's program, unchanged.
  const page = readFileSync(join(root, 'docs', 'quick-start.md'), 'utf8')
  const block = /```ts\n(\/\/ proxy\.ts\n[\s\S]*?)```/.exec(page)?.[1]
  if (block === undefined)
    throw new Error('docs/quick-start.md has no ```ts block starting with // proxy.ts')
  writeFileSync(join(app, 'proxy.ts'), block)
  const seen = []
  const origin = http.createServer((request, response) => {
    seen.push(request.headers['x-proxied-by'])
    response.end(`origin saw ${request.method} ${request.url}\n`)
  })
  origin.listen(8000, '127.0.0.1')
  await once(origin, 'listening')
  const proxy = spawn(process.execPath, ['proxy.ts'], {
    cwd: app,
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  children.push(proxy)
  try {
    await waitForPort(6188, 60_000, proxy)
    const response = await request('http://127.0.0.1:6188/hello')
    const text = await response.text()
    if (response.status !== 200 || text !== 'origin saw GET /hello\n' || seen[0] !== 'pingora-ts') {
      throw new Error(
        `unexpected answer: ${response.status} ${JSON.stringify(text)}, X-Proxied-By ${seen[0]}`,
      )
    }
    log('the quick start proxy answered 200 through the origin, with X-Proxied-By: pingora-ts')
    proxy.kill('SIGTERM')
    const [code] = await once(proxy, 'exit')
    if (code !== 0) throw new Error(`the quick start exited ${code} on SIGTERM`)
  } finally {
    origin.close()
  }
}

let status = 0
try {
  await main()
  log('ok')
} catch (error) {
  status = 1
  const detail = error.stderr ? `\n${error.stdout ?? ''}${error.stderr}` : ''
  process.stderr.write(
    `install test: FAILED: ${error.message}${error.cause ? ` (${error.cause.message ?? error.cause})` : ''}${detail}\n${error.stack}\n`,
  )
} finally {
  for (const child of children) {
    if (child.exitCode !== null) continue
    try {
      // Verdaccio runs under npx: end its whole process group.
      if (child.spawnargs[0] === 'npx') process.kill(-child.pid, 'SIGTERM')
      else child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
  rmSync(work, { recursive: true, force: true })
}
process.exit(status)
