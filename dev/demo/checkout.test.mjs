// The browser test of the demo checkout (dev/demo), run by dev/demo/browser-test.sh against a running
// stack: Debian's chromium, headless, driven by playwright-core (no browser download).
//   DEMO_URL     the page, e.g. http://127.0.0.1:8080/
//   SCREENSHOT   optional: where to save a PNG of the finished page
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const url = process.env.DEMO_URL;
assert.ok(url, 'DEMO_URL is required');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const profile = mkdtempSync(join(tmpdir(), 'demo-chromium-'));

function check(name, fn) {
  return fn().then(
    () => console.log(`ok    ${name}`),
    (e) => { console.log(`FAIL  ${name}`); throw e; },
  );
}

const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  viewport: { width: 900, height: 900 },
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
context.setDefaultTimeout(30_000);

// Everything the page needs is on this machine: the SDK is vendored, the prewarm iframe is skipped.
const offHost = [];
context.on('request', (r) => {
  const { protocol, hostname } = new URL(r.url());
  if (/^https?:$/.test(protocol) && !['127.0.0.1', 'localhost'].includes(hostname)) offHost.push(r.url());
});
const errors = [];
// Every file the demo page's own server is asked for exists (the favicon too).
const pageOrigin = new URL(url).origin;
const notFound = [];
context.on('response', (r) => {
  if (new URL(r.url()).origin === pageOrigin && r.status() >= 400) notFound.push(`${r.status()} ${r.url()}`);
});

// WCAG 2.1 AA: every piece of visible, enabled text has a contrast ratio of at least 4.5:1 against the
// background it is drawn on (3:1 when large: 24 px, or 18.66 px bold). Runs in the page.
function lowContrast() {
  const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const found = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
    if (!own || el.closest('[hidden]') || el.disabled || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    const [a, b] = [lum(rgb(style.color)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) found.push(`${el.tagName.toLowerCase()}.${el.className} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}:1`);
  }
  return found;
}

try {
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));

  await check('the Link flow ends with the status the webhook set: succeeded', async () => {
    await page.goto(url);
    await page.locator('body[data-ready="true"]').waitFor();
    const options = await page.locator('#asset option').allTextContents();
    assert.deepEqual(options, ['Any asset (choose in Link)', 'USDC on Base', 'USDC on Solana', 'ETH on Ethereum']);
    await page.fill('#user', 'alice');
    await page.fill('#amount', '25.00');
    await page.selectOption('#asset', { label: 'USDC on Base' });
    await page.click('#pay');

    // The SDK's overlay iframe shows the sandbox's Link page (decoded from the linkToken).
    const iframe = page.locator('iframe[src*="/link/"]');
    await iframe.waitFor();
    const link = page.frameLocator('iframe[src*="/link/"]');
    await assert.doesNotReject(link.locator('#amount').filter({ hasText: '$25.00' }).waitFor());
    await link.locator('#complete').click();

    await page.locator('#status[data-status="succeeded"]').waitFor({ timeout: 90_000 });
    assert.equal(await page.locator('#status').textContent(), 'Payment succeeded');
    await iframe.waitFor({ state: 'detached' }); // onExit after Link's 'done': the SDK removed its overlay
    const events = (await page.locator('#events').textContent()) ?? '';
    assert.match(events, /onTransferFinished success 25 USDC on Base/);
    assert.match(events, /onExit \(page transferExecutedPage\)/);
    assert.match(events, /GET \/transfers\/… → succeeded/);
    assert.match((await page.locator('#details').textContent()) ?? '', /Tx hash/);
    if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
    assert.deepEqual(await page.evaluate(lowContrast), [], 'text under WCAG AA contrast on the finished page');
  });

  await check('a Paylink opens in a new tab and ends with the status the webhook set: succeeded', async () => {
    await page.goto(url);
    await page.locator('body[data-ready="true"]').waitFor();
    await page.fill('#user', 'bob');
    await page.fill('#amount', '10');
    await page.selectOption('#asset', { label: 'ETH on Ethereum' });
    const [paylink] = await Promise.all([context.waitForEvent('page'), page.click('#paylink')]);
    assert.match(paylink.url(), /\/paylink\//);
    await paylink.locator('#complete').click();
    await page.locator('#status[data-status="succeeded"]').waitFor({ timeout: 90_000 });
    await paylink.close();
  });

  await check('the API reference renders openapi.json offline', async () => {
    await page.goto(new URL('/api/', url).href);
    await page.locator('.swagger-ui .info .title').filter({ hasText: 'link-token' }).waitFor();
    await page.locator('.opblock-summary-path', { hasText: '/link-tokens' }).first().waitFor();
  });

  await check('no request left this machine, none got a 4xx from the page server, and the page threw nothing', async () => {
    assert.deepEqual(offHost, []);
    assert.deepEqual(notFound, []);
    assert.deepEqual(errors, []);
  });
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
