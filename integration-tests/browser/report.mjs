// Opens a policy-lab report page in headless Chromium and says what it drew,
// for integration-tests/tests/browser/report.rs.
//
//   node report.mjs <page.html> <screenshot.png> [--chromium <path>]
//
// Prints one line of JSON: the Chromium version, every request the page
// made besides its own document, every console message, and per chart and
// timeline its data attributes, its rendered size and its marks' count.
// Then writes a full-page screenshot.

import { pathToFileURL } from 'node:url'
import { chromium } from 'playwright-core'

const [page_path, screenshot] = process.argv.slice(2)
let executablePath = '/usr/bin/chromium'
const at = process.argv.indexOf('--chromium')
if (at > 0) executablePath = process.argv[at + 1]

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync']
})
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 1200 } })
  const url = pathToFileURL(page_path).href
  const requests = []
  page.on('request', (request) => {
    if (request.url() !== url) requests.push(request.url())
  })
  const console_messages = []
  page.on('console', (message) => console_messages.push(`${message.type()}: ${message.text()}`))
  page.on('pageerror', (error) => console_messages.push(`pageerror: ${error.message}`))
  await page.goto(url, { waitUntil: 'load' })
  const drawn = await page.evaluate(() => {
    const size = (element) => {
      const box = element.getBoundingClientRect()
      return { width: box.width, height: box.height }
    }
    return {
      sections: document.querySelectorAll('section.scenario').length,
      charts: [...document.querySelectorAll('svg.chart')].map((svg) => ({
        scenario: svg.dataset.scenario,
        ...size(svg),
        runs: svg.querySelectorAll('.run').length,
        // Every run's mark is on the canvas, not clipped away or of zero size.
        runs_drawn: [...svg.querySelectorAll('.run')].filter((mark) => {
          const box = mark.getBoundingClientRect()
          const outer = svg.getBoundingClientRect()
          return box.width > 0 && box.height > 0 && box.left >= outer.left - 8 && box.right <= outer.right + 8
        }).length,
        medians: svg.querySelectorAll('.median').length
      })),
      timelines: [...document.querySelectorAll('svg.timeline')].map((svg) => ({
        scenario: svg.closest('section').id,
        arm: svg.classList.contains('policy') ? 'policy' : 'plain',
        ...size(svg),
        moments: svg.querySelectorAll('.moment').length
      }))
    }
  })
  await page.screenshot({ path: screenshot, fullPage: true })
  console.log(JSON.stringify({ chromium: browser.version(), requests, console: console_messages, ...drawn }))
} finally {
  await browser.close()
}
