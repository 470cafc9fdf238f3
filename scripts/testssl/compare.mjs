// Compares testssl.sh CSV reports (core, demo, nginx): prints a markdown table of the checks
// whose severity or finding is not the same OK/INFO everywhere, and exits 1 when core or the
// demo rates worse than nginx on a check.
//   node scripts/testssl/compare.mjs core.csv demo.csv nginx.csv
import { readFileSync } from 'node:fs'

const RANK = { OK: 0, INFO: 0, LOW: 1, MEDIUM: 2, HIGH: 3, CRITICAL: 4, WARN: 1 }
// Checks that name the endpoint itself (ports, times, the server banner, engine problems).
const IGNORED =
  /^(service|engine_problem|scanTime|scanProblem|overall_grade|final_score|HTTP_clock_skew|HTTP_headerTime|banner_server|pre_128cipher|clientsimulation-.*|cipher_order|cipherorder_.*|cipher-tls.*|cipher_x.*|DNS_CAArecord|cert_.*|intermediate_cert.*|HTTP_status_code|FS_TLS12_sig_algs|FS_TLS13_sig_algs|TLS_timestamp)$/

function load(path) {
  const rows = new Map()
  for (const line of readFileSync(path, 'utf8').split('\n').slice(1)) {
    const cells = line.match(/"([^"]*)"/g)?.map((c) => c.slice(1, -1))
    if (cells === undefined || cells.length < 5) continue
    const [id, , , severity, finding] = cells
    if (!IGNORED.test(id)) rows.set(id, { severity, finding })
  }
  return rows
}

const [core, demo, nginx] = process.argv.slice(2).map(load)
const ids = new Set([...core.keys(), ...demo.keys(), ...nginx.keys()])
const cell = (row) =>
  row === undefined ? '(not reported)' : `${row.severity}: ${row.finding}`.replaceAll('|', '\\|')
const worse = []
const lines = [
  '| check | pingora-ts core | load-balancer demo | nginx (Mozilla intermediate) |',
  '| --- | --- | --- | --- |',
]
for (const id of ids) {
  const rows = [core.get(id), demo.get(id), nginx.get(id)]
  const same = rows.every(
    (r) => r !== undefined && r.finding === rows[0]?.finding && r.severity === rows[0]?.severity,
  )
  const allFine = rows.every((r) => r === undefined || (RANK[r.severity] ?? 0) === 0)
  if (same && allFine) continue
  lines.push(`| ${id} | ${rows.map(cell).join(' | ')} |`)
  const reference = RANK[rows[2]?.severity] ?? 0
  for (const [name, row] of [
    ['core', rows[0]],
    ['demo', rows[1]],
  ]) {
    if (row !== undefined && (RANK[row.severity] ?? 0) > reference)
      worse.push(`${name} ${id}: ${row.severity} ${row.finding}`)
  }
}
process.stdout.write(`${lines.join('\n')}\n`)
if (worse.length > 0) {
  process.stdout.write(`\nworse than nginx:\n${worse.map((w) => `  ${w}`).join('\n')}\n`)
  process.exitCode = 1
} else {
  process.stdout.write('\nnothing rates worse than nginx\n')
}
