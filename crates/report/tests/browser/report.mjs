// Opens the report in headless Debian chromium from file:// and checks it (run by
// crates/report/tests/browser.rs, which passes the expectations computed from
// coalescope_model). Exit code 0 when every check passes; prints one JSON line.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [html, shot, charts, txBypass, rxBypass, rxBypassBusy] = process.argv.slice(2);
const executablePath = process.env.COALESCOPE_CHROMIUM || '/usr/bin/chromium';
const userDataDir = mkdtempSync(join(tmpdir(), 'coalescope-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1100, height: 900 },
});
const failures = [];
const errors = [];
const requests = [];
const url = pathToFileURL(html).href;
try {
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') { errors.push(m.text()); } });
  page.on('pageerror', (e) => errors.push(String(e)));
  context.on('request', (r) => requests.push(r.url()));
  await page.goto(url, { waitUntil: 'load' });
  const withData = await page.$$eval('svg.chart', (svgs) => svgs.filter((s) => s.querySelector('.mark')).length);
  if (withData !== Number(charts)) { failures.push(`charts with data: ${withData}, expected ${charts}`); }
  const txBase = await page.textContent('#tx-total');
  await page.check('#t-kernel-bypass');
  const tx = await page.textContent('#tx-total');
  const rx = await page.textContent('#rx-total');
  await page.check('#t-busy-poll');
  const rxBoth = await page.textContent('#rx-total');
  if (tx !== txBypass) { failures.push(`tx total with kernel-bypass: ${tx}, expected ${txBypass}`); }
  if (rx !== rxBypass) { failures.push(`rx total with kernel-bypass: ${rx}, expected ${rxBypass}`); }
  if (rxBoth !== rxBypassBusy) { failures.push(`rx total with kernel-bypass + busy-poll: ${rxBoth}, expected ${rxBypassBusy}`); }
  if (txBase === tx) { failures.push('the tx total did not change on toggle'); }
  await page.click('#play');
  await page.waitForTimeout(3300);
  const wire = await page.$eval('#ct-wire', (e) => e.style.width);
  if (parseFloat(wire) !== 100) { failures.push(`cut-through lane after the animation: ${wire}`); }
  await page.screenshot({ path: shot, fullPage: true });
  const foreign = requests.filter((r) => r !== url);
  if (foreign.length > 0) { failures.push(`network requests besides the file: ${foreign.join(', ')}`); }
  if (errors.length > 0) { failures.push(`console errors: ${errors.join(' | ')}`); }
  console.log(JSON.stringify({ charts: withData, txBase, tx, rx, rxBoth, requests, errors, failures }));
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(failures.length === 0 ? 0 : 1);
