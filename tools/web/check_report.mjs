// Headless check of a `quantc validate --report` page in Debian's Chromium, for tools/check-all:
// opens the file, fails on any request that leaves it (the page must be self-contained) or any
// script error, and checks what it shows: one summary row per candidate with its gate colour, a
// per-layer SNR chart per runner candidate and a KLD histogram per row.
//   node tools/web/check_report.mjs REPORT.html --rows N --fail LABEL=LAYER [...] [--screenshot OUT.png]
// --fail LABEL=LAYER: that row must be marked FAIL and its chart must name LAYER as the departure.
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const args = process.argv.slice(2);
const report = args[0];
const opt = (flag) => { const i = args.indexOf(flag); return i >= 0 ? args[i + 1] : null; };
const fails = args.flatMap((a, i) => (a === '--fail' ? [args[i + 1]] : [])).map((f) => f.split('='));
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
let code = 1;
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => { if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) errors.push(`outside request: ${r.url()}`); });
  await page.goto(pathToFileURL(report).href);
  const rows = await page.$$eval('table tr.pass, table tr.fail', (trs) => trs.map((tr) => ({
    label: tr.cells[0].textContent, cls: tr.className, gate: tr.cells[tr.cells.length - 1].textContent,
    colour: getComputedStyle(tr.cells[tr.cells.length - 1]).backgroundColor })));
  const cards = await page.$$eval('.card', (cs) => cs.map((c) => ({ title: c.querySelector('b').textContent, text: c.textContent,
                                                                      svg: c.querySelector('svg')?.getBoundingClientRect().height ?? 0 })));
  const problems = [...errors];
  if (rows.length !== Number(opt('--rows'))) problems.push(`${rows.length} summary rows, expected ${opt('--rows')}`);
  for (const r of rows) {
    const want = r.cls === 'pass' ? 'rgb(218, 251, 225)' : 'rgb(255, 235, 233)';
    if (r.colour !== want) problems.push(`${r.label}: gate cell colour ${r.colour}, expected ${want}`);
  }
  for (const [label, layer] of fails) {
    const row = rows.find((r) => r.label === label);
    if (!row || row.cls !== 'fail') problems.push(`${label}: not marked FAIL`);
    const chart = cards.find((c) => c.title === label && c.text.includes('departs at'));
    if (!chart || !chart.text.includes(`departs at ${layer} (`)) problems.push(`${label}: SNR chart does not name ${layer}`);
  }
  if (cards.some((c) => c.svg < 100)) problems.push('a chart did not render');
  if (opt('--screenshot')) {
    const jpeg = opt('--screenshot').endsWith('.jpg');
    await page.screenshot({ path: opt('--screenshot'), fullPage: true, ...(jpeg ? { type: 'jpeg', quality: 80 } : {}) });
  }
  console.log(JSON.stringify({ rows: rows.map((r) => `${r.label}: ${r.cls}`), charts: cards.length, problems }));
  code = problems.length ? 1 : 0;
} finally {
  await browser.close();
}
process.exit(code);
