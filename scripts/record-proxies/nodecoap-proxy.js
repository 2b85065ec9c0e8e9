// node-coap forward proxy: coap.createServer({proxy: true}) on ADDR:PORT.
// Requests with a Proxy-Uri are relayed by node-coap itself; anything else
// reaches the handler below, which answers 2.05 "not proxied".
//
// usage: node nodecoap-proxy.js ADDR PORT   (NODE_PATH must find `coap`)
'use strict'
const coap = require('coap')

const [addr, port] = process.argv.slice(2)
const server = coap.createServer({ proxy: true, type: addr.includes(':') ? 'udp6' : 'udp4' })
server.on('request', (req, res) => {
  res.end('not proxied: ' + req.url)
})
server.on('error', (err) => console.error('proxy error:', err.message))
server.listen(Number(port), addr, () => console.log(`node-coap proxy on ${addr}:${port}`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
