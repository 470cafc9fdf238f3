// The origin of the compression bench: GET /json answers a 64 KiB JSON document
// (application/json, Content-Length, keep-alive). Env: PORT.
import http from 'node:http'

const items = []
let size = 2
for (let i = 0; size < 64 * 1024; i++) {
  const item = {
    id: i,
    name: `item ${i}`,
    price: (i * 37) % 1000,
    tags: ['alpha', 'beta'],
    ok: i % 3 === 0,
  }
  items.push(item)
  size += JSON.stringify(item).length + 1
}
const body = Buffer.from(JSON.stringify(items)).subarray(0, 64 * 1024)
// Cut at the last complete item so the body stays valid JSON of at most 64 KiB.
const text = body.toString()
const json = Buffer.from(`${text.slice(0, text.lastIndexOf('},') + 1)}]`)
http
  .createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': json.length })
    res.end(json)
  })
  .listen(Number(process.env.PORT), '127.0.0.1')
