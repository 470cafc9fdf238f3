import { spawnSync } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ALLOWED, DEV_ALLOWED } from '../../../scripts/check-layers.mjs'

/** The repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

/** The layer check's command-line entry. */
export const CHECK_LAYERS = join(ROOT, 'scripts', 'check-layers.mjs')

/** The layer table, typed for lookups by package name. */
export const LAYERS: Readonly<Record<string, readonly string[]>> = ALLOWED
/** The dev-only additions to the layer table. */
export const DEV_LAYERS: Readonly<Record<string, readonly string[]>> = DEV_ALLOWED

/** What a run of the layer check printed and how it exited. */
export interface CheckResult {
  /** The exit code. */
  status: number | null
  /** Everything written to stdout. */
  stdout: string
  /** Everything written to stderr. */
  stderr: string
}

/**
 * Runs `node scripts/check-layers.mjs [root]` as a child process, exactly as CI does.
 * @param root - the tree to check; the repository itself when left out
 */
export function runCheckLayers(root?: string): CheckResult {
  const args = root === undefined ? [CHECK_LAYERS] : [CHECK_LAYERS, root]
  const result = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** A package.json as these checks read it. */
export interface PackageJson {
  name?: string
  private?: boolean
  license?: string
  type?: string
  sideEffects?: boolean
  engines?: { node?: string }
  exports?: Record<string, unknown>
  files?: string[]
  publishConfig?: { access?: string; provenance?: boolean }
  repository?: { type?: string; url?: string; directory?: string }
  dependencies?: Record<string, string>
  devDependencies?: Record<string, string>
  [field: string]: unknown
}

/**
 * Reads and parses a JSON file.
 * @param path - the file
 */
export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T
}

/**
 * Lists the folders under `group` (such as `packages`) that hold a package.json.
 * @param group - a folder of the repository root
 */
export function workspaceDirs(group: string): string[] {
  const dir = join(ROOT, group)
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((name) => existsSync(join(dir, name, 'package.json')))
    .sort()
}

/**
 * Writes a file, creating its folders.
 * @param path - the file
 * @param text - the content
 */
export function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, text)
}

/**
 * Builds a small repository in a temporary folder that follows the layer table exactly: each
 * package in the table declares and imports every sibling its layer allows, and `proxy` uses its
 * dev-only siblings and test-utils from a test file.
 */
export function makeFixture(): string {
  const root = mkdtempSync(join(tmpdir(), 'pingora-layers-'))
  for (const [name, allowed] of Object.entries(LAYERS)) {
    const dev = [...(DEV_LAYERS[name] ?? []), 'test-utils']
    const pkg: PackageJson = {
      name: `@pingora-ts/${name}`,
      dependencies: Object.fromEntries(allowed.map((dep) => [`@pingora-ts/${dep}`, 'workspace:^'])),
      devDependencies: Object.fromEntries(dev.map((dep) => [`@pingora-ts/${dep}`, 'workspace:*'])),
    }
    write(join(root, 'packages', name, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`)
    const imports = allowed.map((dep, i) => `import * as dep${i} from '@pingora-ts/${dep}'\n`)
    write(join(root, 'packages', name, 'src', 'index.ts'), `${imports.join('')}export {}\n`)
    const testImports = dev.map((dep, i) => `import * as dev${i} from '@pingora-ts/${dep}'\n`)
    write(join(root, 'packages', name, 'src', 'index.test.ts'), `${testImports.join('')}\n`)
  }
  return root
}

/**
 * Reads, changes and writes back one fixture package's package.json.
 * @param root - the fixture
 * @param name - the package folder
 * @param change - edits the parsed object in place
 */
export function editPackage(root: string, name: string, change: (pkg: PackageJson) => void): void {
  const path = join(root, 'packages', name, 'package.json')
  const pkg = readJson<PackageJson>(path)
  change(pkg)
  writeFileSync(path, `${JSON.stringify(pkg, null, 2)}\n`)
}
