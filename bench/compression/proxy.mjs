// pingora-ts with the ResponseCompression module in front of $UPSTREAM, on $PORT, gzip level
// $LEVEL (only gzip offered, as nginx's `gzip on`). Runs the built packages (pnpm build first).
import { HttpPeer, Server } from '../../packages/core/dist/index.js'
import { httpProxyService, ResponseCompressionBuilder } from '../../packages/proxy/dist/index.js'

const upstream = new URL(process.env.UPSTREAM)
const peer = new HttpPeer({ address: upstream.host, tls: false, sni: '' })
const level = Number(process.env.LEVEL ?? 6)
const app = {
  newCtx: () => undefined,
  initDownstreamModules(modules) {
    modules.addModule(
      new ResponseCompressionBuilder({ levels: { gzip: level, br: false, zstd: false } }),
    )
  },
  upstreamPeer: () => peer,
}
const server = new Server({ configuration: { gracePeriodSeconds: 0 } })
server.bootstrap()
const service = httpProxyService(server.configuration, app)
service.addTcp(`127.0.0.1:${process.env.PORT}`)
server.addService(service)
await server.start()
process.on('SIGTERM', () => process.exit(0))
