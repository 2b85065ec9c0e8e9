// One node-coap client request, sent from BIND (ephemeral port) either to
// a proxy with a Proxy-Uri or, without --proxy, straight to the URI.
//
// usage: node nodecoap-client.js --bind ADDR [--proxy HOST:PORT] [--payload S]
//          [--block1 SZX] [--block2 SZX] [--observe SECONDS] [--non]
//          [--timeout SECONDS] METHOD URI
'use strict'
const coap = require('coap')
const dgram = require('dgram')

const args = process.argv.slice(2)
const opt = {}
const pos = []
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--non') opt.non = true
  else if (args[i].startsWith('--')) opt[args[i].slice(2)] = args[++i]
  else pos.push(args[i])
}
const [method, uri] = pos
const target = new URL(uri)
const timeout = Number(opt.timeout || 10) * 1000

const sock = dgram.createSocket('udp4')
sock.bind(0, opt.bind, () => {
  const agent = new coap.Agent({ socket: sock })
  const params = { method, agent, confirmable: !opt.non }
  if (opt.proxy) {
    const [h, p] = opt.proxy.split(':')
    params.hostname = h
    params.port = Number(p)
    params.proxyUri = uri
  } else {
    params.hostname = target.hostname
    params.port = Number(target.port || 5683)
    params.pathname = target.pathname
    params.query = target.search.replace(/^\?/, '')
  }
  if (opt.observe) params.observe = true
  const req = coap.request(params)
  if (opt.block1) req.setOption('Block1', Buffer.from([Number(opt.block1)]))
  if (opt.block2) req.setOption('Block2', Buffer.from([Number(opt.block2)]))
  // agent.close() may wait for exchanges the proxy never completes
  const done = (code) => process.exit(code)
  const timer = setTimeout(() => { console.log('timeout'); done(2) }, timeout)
  req.on('error', (err) => { console.log('error:', err.message); clearTimeout(timer); done(1) })
  req.on('response', (res) => {
    if (opt.observe) {
      res.on('data', (d) => console.log(res.code, d.toString()))
      setTimeout(() => { res.close(); setTimeout(() => { clearTimeout(timer); done(0) }, 500) }, Number(opt.observe) * 1000)
      return
    }
    console.log(res.code, res.payload.toString())
    clearTimeout(timer)
    done(0)
  })
  if (opt.payload) req.write(opt.payload)
  req.end()
})
