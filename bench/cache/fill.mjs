// Fills a cache with N distinct keys (PATH?k=0..N-1) through a caching proxy, 16 requests in
// flight, and checks the last one is then a hit. Used by memory.sh.
//   node bench/cache/fill.mjs PORT N PATH [PREFIX]
import http from 'node:http'

const [port, count, path] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]]
const prefix = process.argv[5] ?? ''
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 })

function get(key) {
  return new Promise((resolve, reject) => {
    const request = http.get(
      { host: '127.0.0.1', port, path: `${path}?k=${prefix}${key}`, agent },
      (res) => {
        res.resume()
        res.on('end', () => resolve(res.headers['x-cache-status']))
      },
    )
    request.on('error', reject)
  })
}

let next = 0
async function worker() {
  while (next < count) await get(next++)
}
await Promise.all(Array.from({ length: 16 }, worker))
const status = await get(count - 1)
if (status !== 'HIT') throw new Error(`expected a hit after the fill, got ${status}`)
agent.destroy()
