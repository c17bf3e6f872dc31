// Drives the browser peer for integration-tests/tests/browser.
//
//   node driver.mjs --addr <multiaddr> [--keep-key] [--stop-on-pagehide]
//                   [--default-monitor] [--dist <dir>] [--chromium <path>]
//                   [--debug <js-libp2p debug pattern, e.g. libp2p:*>]
//
// Serves dist/ on 127.0.0.1 (a free port), launches Debian's Chromium headless
// through playwright-core (never a downloaded browser), opens the page with
// the node's multiaddr in its URL, and speaks a line protocol:
//
// stdout:  page-url <url>
//          browser-pid <pid>     the Chromium browser process, leader of its
//                                own process group (playwright starts it detached)
//          chromium-version <v>
//          state <json>          the page's state, on every change
//          log <text>            any other console line or page error
//          done <command>        a command finished
//          error <text>          a command failed
// stdin:   echo | close-connection | stop | close-tab | reload | quit
//
// On stdin's end it closes the browser and exits.

import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { dirname, extname, join, normalize } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const here = dirname(fileURLToPath(import.meta.url))
const options = { dist: join(here, 'dist'), chromium: '/usr/bin/chromium', keepKey: false, addr: null }
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  switch (argv[i]) {
    case '--addr': options.addr = argv[++i]; break
    case '--dist': options.dist = argv[++i]; break
    case '--chromium': options.chromium = argv[++i]; break
    case '--keep-key': options.keepKey = true; break
    case '--stop-on-pagehide': options.stopOnPagehide = true; break
    case '--default-monitor': options.defaultMonitor = true; break
    case '--debug': options.debug = argv[++i]; break
    default:
      console.error(`unknown argument ${argv[i]}`)
      process.exit(2)
  }
}
if (options.addr == null) {
  console.error('usage: node driver.mjs --addr <multiaddr> [--keep-key] [--stop-on-pagehide] [--default-monitor] [--dist <dir>] [--chromium <path>] [--debug <pattern>]')
  process.exit(2)
}

const out = (line) => process.stdout.write(line.replaceAll('\n', ' ') + '\n')

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json' }

const server = createServer(async (req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '')
  const type = TYPES[extname(path)]
  if (req.method !== 'GET' || type == null) {
    res.writeHead(404).end()
    return
  }
  try {
    const body = await readFile(join(options.dist, path))
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body)
  } catch {
    res.writeHead(404).end()
  }
})
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
const url = `http://127.0.0.1:${server.address().port}/index.html?addr=${encodeURIComponent(options.addr)}` +
  (options.keepKey ? '&keep-key=1' : '') + (options.stopOnPagehide ? '&stop-on-pagehide=1' : '') +
  (options.defaultMonitor ? '&monitor=default' : '')
out(`page-url ${url}`)

// launchServer, not launch: only a BrowserServer tells its process.
const browserServer = await chromium.launchServer({
  executablePath: options.chromium,
  headless: true,
  // playwright gives the browser a fresh, empty user data dir of its own.
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    // The node listens on 127.0.0.1; Chromium leaves the loopback interface
    // out of WebRTC's candidates by default. (Here it connected without this
    // flag too, through the machine's other interface; with it, a machine with
    // loopback alone works as well.)
    '--allow-loopback-in-peer-connection'
  ]
})
const browser = await chromium.connect(browserServer.wsEndpoint())
out(`browser-pid ${browserServer.process().pid}`)
out(`chromium-version ${browser.version()}`)

const context = await browser.newContext()
if (options.debug != null) {
  // js-libp2p's logger reads this when the page loads.
  await context.addInitScript((pattern) => window.localStorage.setItem('debug', pattern), options.debug)
}
let page = null

function watch (p) {
  p.on('console', (message) => {
    const text = message.text()
    out(text.startsWith('state ') ? text : `log ${message.type()}: ${text}`)
  })
  p.on('pageerror', (err) => out(`log pageerror: ${err.message}`))
}

async function openPage () {
  page = await context.newPage()
  watch(page)
  await page.goto(url)
}

async function run (command) {
  switch (command) {
    case 'echo': {
      const ok = await page.evaluate(() => window.__commands.echo())
      if (!ok) throw new Error('echo failed')
      break
    }
    case 'close-connection':
      await page.evaluate(() => window.__commands.closeConnection())
      break
    case 'stop':
      await page.evaluate(() => window.__commands.stop())
      break
    case 'close-tab':
      await page.close({ runBeforeUnload: false })
      break
    case 'reload':
      await page.reload()
      break
    case 'open-tab':
      await openPage()
      break
    case 'quit':
      await shutdown()
      break
    default:
      throw new Error(`unknown command ${command}`)
  }
}

let closing = false
async function shutdown () {
  if (closing) return
  closing = true
  await browser.close().catch(() => {})
  await browserServer.close().catch(() => {})
  server.close()
  process.exit(0)
}

await openPage()

// Commands run one at a time, in order.
let queue = Promise.resolve()
createInterface({ input: process.stdin }).on('line', (line) => {
  const command = line.trim()
  if (command === '') return
  queue = queue.then(() => run(command))
    .then(() => out(`done ${command}`))
    .catch((err) => out(`error ${command}: ${err.message}`))
}).on('close', () => { queue.then(shutdown) })
browser.on('disconnected', () => {
  if (!closing) {
    out('log browser disconnected')
    server.close()
    process.exit(0)
  }
})
