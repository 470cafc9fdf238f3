// pingora-ts with the ResponseCompression module in front of $UPSTREAM, on $PORT, gzip level
// $LEVEL (only gzip offered, as nginx's `gzip on`). Bundled from the sources by run.sh
// (tsup.config.ts), run with plain node.
import { HttpPeer, Server } from '../../packages/core/src/index.ts'
import {
  httpProxyService,
  type ProxyHttp,
  ResponseCompressionBuilder,
} from '../../packages/proxy/src/index.ts'

const upstream = new URL(process.env.UPSTREAM ?? 'http://127.0.0.1:28190')
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
} satisfies ProxyHttp<undefined>
const server = new Server({ configuration: { gracePeriodSeconds: 0 } })
server.bootstrap()
const service = httpProxyService(server.configuration, app)
service.addTcp(`127.0.0.1:${process.env.PORT}`)
server.addService(service)
await server.start()
process.on('SIGTERM', () => process.exit(0))
