/**
 * A minimal HTTP server for `http1-cpu.sh`: `node --conditions=@pingora-ts/source
 * bench/http1-server-peer.ts session|node PORT` serves `hello, world!` on 127.0.0.1:PORT through
 * Http1ServerSession (`session`) or node:http (`node`). Needs a Node that strips types (>= 22.6).
 */
import { nodeServer, sessionServer } from './hello-servers.ts'

const port = Number(process.argv[3])

const server = process.argv[2] === 'node' ? nodeServer() : sessionServer()
server.listen(port, '127.0.0.1')
// Exit cleanly on SIGINT so that --cpu-prof writes its profile.
process.on('SIGINT', () => process.exit(0))
