// Interop over libp2p's browser-to-browser `/webrtc` transport: js-libp2p (`webRTC()` from
// @libp2p/webrtc, `circuitRelayTransport()` from @libp2p/circuit-relay-v2) and our node.
//
// Usage: node webrtc.mjs RELAY_ADDR DXOS_WEBRTC_ADDR DXOS_DIALER_PEER_ID
// 1. reserves on the relay (a `dxos relay serve` at RELAY_ADDR) and listens on `/webrtc`;
//    prints {"listening": "<relay>/p2p-circuit/webrtc/p2p/<us>"};
// 2. dials the dxos node at DXOS_WEBRTC_ADDR (its `/p2p-circuit/webrtc` address) and pings it
//    over the direct WebRTC connection, 3 times;
// 3. waits (60 s) for the dxos node DXOS_DIALER_PEER_ID to dial our `/webrtc` address, and
//    pings it back over that connection, 3 times.
// One JSON line per step; exit code 0 only if every step worked.
import './polyfill.mjs'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { webRTC } from '@libp2p/webrtc'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { ping } from '@libp2p/ping'
import { identify } from '@libp2p/identify'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'

const [relayAddr, dxosAddr, dialerId] = process.argv.slice(2)
const say = (v) => console.log(JSON.stringify(v))
const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))
// Our listening address: `<relay>/p2p-circuit/webrtc/p2p/<us>`.
const isWebRTCListen = (ma) => ma.toString().includes('/p2p-circuit/webrtc/')
// A `/webrtc` connection: the dialer's remote address is the one it dialled, the listener's
// `/webrtc/p2p/<dialer>`.
const isWebRTC = (ma) => ma.getComponents().some(({ name }) => name === 'webrtc')

const node = await createLibp2p({
  addresses: { listen: ['/p2p-circuit', '/webrtc'] },
  // Loopback only: no STUN server is needed (or reachable).
  transports: [tcp(), webRTC({ rtcConfiguration: { iceServers: [] } }), circuitRelayTransport()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  connectionGater: { denyDialMultiaddr: () => false },
  services: { ping: ping(), identify: identify() }
})

// A direct WebRTC connection has a `/webrtc` remote address and no relay limits.
const direct = (peer) => node.getConnections(peer).find(c => isWebRTC(c.remoteAddr) && c.limits == null)

async function pings (peer, count) {
  const conn = direct(peer)
  if (conn == null) throw new Error(`no direct /webrtc connection to ${peer}`)
  for (let i = 0; i < count; i++) {
    // Over that very connection (a ping by peer id could take the relayed one).
    const stream = await conn.newStream('/ipfs/ping/1.0.0', { signal: AbortSignal.timeout(5000) })
    const started = Date.now()
    const data = crypto.getRandomValues(new Uint8Array(32))
    stream.send(data)
    const echoed = await new Promise((resolve, reject) => {
      stream.addEventListener('message', (evt) => resolve(evt.data.subarray()), { once: true })
      stream.addEventListener('close', () => reject(new Error('the ping stream closed')), { once: true })
    })
    if (Buffer.compare(Buffer.from(echoed), Buffer.from(data)) !== 0) throw new Error('the ping came back changed')
    say({ ping: i, peer: peer.toString(), rtt_ms: Date.now() - started, over: conn.remoteAddr.toString() })
    await stream.close()
  }
}

let failed = false
try {
  await node.start()
  await node.dial(multiaddr(relayAddr), { signal: AbortSignal.timeout(10000) })
  let ours
  for (let i = 0; i < 100 && ours == null; i++) {
    ours = node.getMultiaddrs().find(isWebRTCListen)
    if (ours == null) await sleep(100)
  }
  if (ours == null) throw new Error('no reservation on the relay (no /p2p-circuit/webrtc address)')
  say({ listening: ours.toString() })

  // js-libp2p dials our node over /webrtc.
  const target = multiaddr(dxosAddr)
  const conn = await node.dial(target, { signal: AbortSignal.timeout(20000) })
  say({ dialed: conn.remoteAddr.toString(), direct: isWebRTC(conn.remoteAddr) && conn.limits == null })
  await pings(conn.remotePeer, 3)

  // Our node dials js-libp2p over /webrtc.
  const dialer = peerIdFromString(dialerId)
  const deadline = Date.now() + 60000
  while (direct(dialer) == null && Date.now() < deadline) await sleep(100)
  say({ dialed_by: dialerId, direct: direct(dialer) != null })
  await pings(dialer, 3)
} catch (e) {
  console.error('FAILED', e)
  failed = true
} finally {
  await node.stop()
}
process.exit(failed ? 1 : 0)
