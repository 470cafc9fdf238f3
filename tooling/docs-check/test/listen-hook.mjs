// Preloaded (`--import`) into a documented program run by run.test.ts: prints
// `docs-check: listening <port>` on stderr each time a server of the program starts listening, so
// the test waits on that line instead of polling the port, and the program can listen on port 0.
import net from 'node:net'

const listen = net.Server.prototype.listen
net.Server.prototype.listen = function listenAndTell(...args) {
  this.once('listening', () => {
    const address = this.address()
    if (address !== null && typeof address === 'object') {
      process.stderr.write(`docs-check: listening ${address.port}\n`)
    }
  })
  return listen.apply(this, args)
}
