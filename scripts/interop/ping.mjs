// Dials a DXOS node with js-libp2p (another libp2p implementation) and pings it.
import './polyfill.mjs'
// Usage: node ping.mjs MULTIADDR [COUNT]
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { ping } from '@libp2p/ping'
import { identify } from '@libp2p/identify'
import { multiaddr } from '@multiformats/multiaddr'

const target = multiaddr(process.argv[2])
const count = Number(process.argv[3] ?? 3)
const transports = [tcp()]
if (process.argv[2].includes('/webrtc-direct')) {
  const { webRTCDirect } = await import('@libp2p/webrtc')
  transports.push(webRTCDirect())
}
const node = await createLibp2p({
  transports,
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { ping: ping(), identify: identify() },
})
await node.start()
try {
  for (let i = 0; i < count; i++) {
    const rtt = await node.services.ping.ping(target)
    console.log(JSON.stringify({ ping: i, rtt_ms: rtt }))
  }
  const conns = node.getConnections()
  console.log(JSON.stringify({ remote: conns.map(c => c.remoteAddr.toString()), agent: 'js-libp2p' }))
} catch (e) {
  console.error('FAILED', e)
  process.exitCode = 1
} finally {
  await node.stop()
}
