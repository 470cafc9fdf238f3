import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DEV_LAYERS, LAYERS, ROOT } from './repo.ts'

interface Row {
  runtime: string[]
  dev: string[]
}

/** Reads the table between the `layers:start` and `layers:end` markers of ARCHITECTURE.md. */
function readLayerTable(): Map<string, Row> {
  const text = readFileSync(join(ROOT, 'ARCHITECTURE.md'), 'utf8')
  const start = text.indexOf('<!-- layers:start -->')
  const end = text.indexOf('<!-- layers:end -->')
  expect(start, 'ARCHITECTURE.md has the layers:start marker').toBeGreaterThan(-1)
  expect(end, 'ARCHITECTURE.md has the layers:end marker').toBeGreaterThan(start)
  const rows = new Map<string, Row>()
  for (const line of text.slice(start, end).split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim())
    // A body row: `| `name` | L0 | deps | dev deps |` splits into 6 cells, the outer two empty.
    if (cells.length !== 6 || !/^`[a-z-]+`$/.test(cells[1] ?? '')) continue
    const names = (cell: string | undefined) =>
      [...(cell ?? '').matchAll(/`([a-z-]+)`/g)].map((m) => m[1] ?? '')
    const [name = ''] = names(cells[1])
    rows.set(name, { runtime: names(cells[3]), dev: names(cells[4]) })
  }
  return rows
}

describe('ARCHITECTURE.md', () => {
  const table = readLayerTable()

  it('lists exactly the packages of the layer table in scripts/check-layers.mjs', () => {
    expect([...table.keys()].sort()).toEqual(Object.keys(LAYERS).sort())
  })

  it.each(Object.keys(LAYERS))('gives %s the same allowed dependencies as the script', (name) => {
    const row = table.get(name)
    expect(row?.runtime.slice().sort()).toEqual([...(LAYERS[name] ?? [])].sort())
    expect(row?.dev.slice().sort()).toEqual([...(DEV_LAYERS[name] ?? [])].sort())
  })
})
