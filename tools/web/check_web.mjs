// Headless check of the chat page in Debian's Chromium (wasm backend), for tools/check-all: serves
// MODELS_DIR, opens /?model=NAME&dtype=DTYPE, waits for the model to load, sends PROMPT, and
// compares the generated ids with EXPECTED (a JSON array: quantc's runner's greedy continuation).
//   node tools/web/check_web.mjs MODELS_DIR NAME DTYPE PROMPT EXPECTED.json [--screenshot OUT.png] [--loose]
// Exits 1 when the page fails to load or generate, or (unless --loose) when the ids differ.
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';

const args = process.argv.slice(2);
const [modelsDir, name, dtype, prompt, expectedPath] = args;
const opt = (flag) => { const i = args.indexOf(flag); return i >= 0 ? args[i + 1] : null; };
if (!expectedPath) {
  console.error('usage: node check_web.mjs MODELS_DIR NAME DTYPE PROMPT EXPECTED.json [--screenshot OUT.png] [--loose]');
  process.exit(2);
}
const expected = JSON.parse(readFileSync(expectedPath, 'utf8'));
const server = await serve(modelsDir, 0);
const port = server.address().port;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true,
                                        args: ['--no-sandbox'] });
let code = 1;
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 560 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Every request must stay on this server (blob:/data: URLs are the page's own).
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(`http://127.0.0.1:${port}/`) && !url.startsWith('blob:') && !url.startsWith('data:')) errors.push(`outside request: ${url}`);
  });
  await page.goto(`http://127.0.0.1:${port}/?model=${encodeURIComponent(name)}&dtype=${dtype}&tokens=${expected.length}`);
  await page.waitForSelector('#status[data-state="ready"], #status[data-state="error"]', { timeout: 180000 });
  const loaded = await page.textContent('#status');
  if (await page.getAttribute('#status', 'data-state') === 'error') throw new Error(loaded);
  await page.fill('#prompt', prompt);
  await page.click('#send');
  await page.waitForSelector('.model[data-ids]', { timeout: 180000 });
  const ids = JSON.parse(await page.getAttribute('.model', 'data-ids'));
  const text = await page.textContent('.model');
  const status = await page.textContent('#status');
  const same = JSON.stringify(ids) === JSON.stringify(expected);
  console.log(JSON.stringify({ model: name, dtype, loaded, status, text, ids, equal_to_expected: same, errors }));
  const screenshot = opt('--screenshot');
  if (screenshot) await page.screenshot({ path: screenshot });
  code = errors.length === 0 && (same || args.includes('--loose')) && ids.length > 0 ? 0 : 1;
} catch (e) {
  console.error(`check_web: ${e.message ?? e}`);
} finally {
  await browser.close();
  server.close();
}
process.exit(code);
