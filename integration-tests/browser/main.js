// A js-libp2p browser peer for integration-tests/tests/browser.
//
// Reads the node's multiaddr from `?addr=`, dials it over WebRTC-direct, runs
// one `/testkit/echo/1.0.0` exchange (write the payload, close the write side,
// read the echo) and serves the same protocol to the node. Its state is kept
// in `window.__state` and printed as a console line `state <json>` on every
// change; the driver (driver.mjs) forwards those lines to the test and calls
// `window.__commands` to act. With `?keep-key=1` the private key lives in
// localStorage, so a reload keeps the peer id; `?stop-on-pagehide=1` and
// `?monitor=default` are described where they are used.

import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { webRTCDirect } from '@libp2p/webrtc'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const ECHO = '/testkit/echo/1.0.0'
const MAX_PAYLOAD = 1024
const KEY_ITEM = 'transport-policies-browser-key'

const params = new URLSearchParams(window.location.search)
const target = multiaddr(params.get('addr'))
const keepKey = params.get('keep-key') === '1'

const state = {
  phase: 'starting',
  peerId: null,
  keyKept: false,
  connections: 0,
  echoesOk: 0,
  echoFailures: 0,
  lastEchoMs: null,
  served: 0,
  finAcks: 0,
  finAckTimeouts: 0,
  closes: [],
  error: null
}
window.__state = state

function report (changes) {
  Object.assign(state, changes)
  console.log('state ' + JSON.stringify(state))
}

async function loadKey () {
  if (keepKey) {
    const stored = window.localStorage.getItem(KEY_ITEM)
    if (stored != null) {
      const bytes = Uint8Array.from(atob(stored), c => c.charCodeAt(0))
      return { key: privateKeyFromProtobuf(bytes), kept: true }
    }
  }
  const key = await generateKeyPair('Ed25519')
  if (keepKey) {
    const bytes = privateKeyToProtobuf(key)
    window.localStorage.setItem(KEY_ITEM, btoa(String.fromCharCode(...bytes)))
  }
  return { key, kept: false }
}

async function readAll (stream) {
  const chunks = []
  let length = 0
  for await (const chunk of stream) {
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    length += bytes.byteLength
    if (length > MAX_PAYLOAD) {
      throw new Error('echo payload over the limit')
    }
    chunks.push(bytes)
  }
  const all = new Uint8Array(length)
  let offset = 0
  for (const bytes of chunks) {
    all.set(bytes, offset)
    offset += bytes.byteLength
  }
  return all
}

// js-libp2p's connection monitor pings every connection every 10 s and
// closes the ping stream with the ping's timeout as its signal; that close
// waits for a FIN_ACK rust-libp2p never sends, so every ping "fails" and, by
// default, the monitor then aborts the connection (about 15 s after the node
// starts). The page keeps the monitor's pings but not its aborts, unless
// `?monitor=default` asks for js-libp2p's defaults.
const connectionMonitor = params.get('monitor') === 'default'
  ? {}
  : { abortConnectionOnPingFailure: false }

const { key, kept } = await loadKey()
const node = await createLibp2p({
  privateKey: key,
  transports: [webRTCDirect()],
  connectionMonitor,
  // Browsers refuse to dial private addresses by default; the node is on 127.0.0.1.
  connectionGater: { denyDialMultiaddr: () => false }
})
report({ phase: 'started', peerId: node.peerId.toString(), keyKept: kept })

node.addEventListener('connection:open', () => {
  report({ connections: node.getConnections().length })
})
node.addEventListener('connection:close', (event) => {
  const connection = event.detail
  report({
    connections: node.getConnections().length,
    closes: [...state.closes, { status: connection.status, at: Date.now() }]
  })
})

// Closes the write side (sends FIN) without waiting for the close to finish.
// js-libp2p's WebRTC stream then waits for a FIN_ACK, which rust-libp2p's
// libp2p-webrtc 0.10 never sends (its protocol has FIN, STOP_SENDING and
// RESET only), so `close()` settles only at the 10 s FIN_ACK timeout, with a
// rejection. The FIN itself goes out at once; the echo does not wait for it.
function closeWrite (stream) {
  stream.close().then(
    () => report({ finAcks: state.finAcks + 1 }),
    () => report({ finAckTimeouts: state.finAckTimeouts + 1 })
  )
}

// Serve echo to the node: read the payload, write it back, close.
await node.handle(ECHO, async (stream) => {
  try {
    const payload = await readAll(stream)
    stream.send(payload)
    closeWrite(stream)
    report({ served: state.served + 1 })
  } catch (err) {
    stream.abort(err)
    report({ error: `serving echo: ${err.message}` })
  }
}, { runOnLimitedConnection: false })

// One echo exchange on the connection to the node (dialled if there is none).
async function echo () {
  const started = performance.now()
  const payload = new TextEncoder().encode(`browser echo ${state.echoesOk + state.echoFailures}`)
  try {
    const stream = await node.dialProtocol(target, ECHO, { signal: AbortSignal.timeout(20000) })
    stream.send(payload)
    closeWrite(stream)
    const echoed = await readAll(stream)
    if (echoed.length !== payload.length || echoed.some((b, i) => b !== payload[i])) {
      throw new Error('echoed payload differs from the one sent')
    }
    report({ phase: 'echoed', echoesOk: state.echoesOk + 1, lastEchoMs: Math.round(performance.now() - started) })
    return true
  } catch (err) {
    report({ echoFailures: state.echoFailures + 1, error: `echo: ${err.message}` })
    return false
  }
}

window.__commands = {
  echo,
  // Closes every connection to the node normally (js-libp2p's graceful close).
  closeConnection: async () => {
    await Promise.all(node.getConnections().map((c) => c.close()))
    report({ phase: 'connection-closed', connections: node.getConnections().length })
  },
  stop: async () => {
    await node.stop()
    report({ phase: 'stopped', connections: 0 })
  }
}

// With `?stop-on-pagehide=1` the page closes its connections when it goes
// away, as an application can: RTCPeerConnection.close() sends its SCTP abort
// and DTLS close_notify at once, so a closed tab is then a normal close.
if (params.get('stop-on-pagehide') === '1') {
  window.addEventListener('pagehide', () => {
    for (const connection of node.getConnections()) {
      connection.abort(new Error('page hidden'))
    }
  })
}

report({ phase: 'dialing' })
await echo()
