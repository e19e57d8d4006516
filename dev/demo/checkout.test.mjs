// The browser test of the demo shop (dev/demo), run by dev/demo/browser-test.sh against a running
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

  // The page's calls to the link-token API: a shopper names the checkout, never its price or its order.
  const linkTokenBodies = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname.endsWith('/link-tokens')) linkTokenBodies.push(r.postDataJSON());
  });

  /** Logs in as `shopper`, picks the item and the asset, and presses `button` (#pay or #paylink). */
  async function buy(shopper, item, asset) {
    await page.goto(url);
    await page.locator('body[data-ready="true"]').waitFor();
    await page.fill('#user', shopper);
    await page.check(`input[name="item"][value="${item}"]`);
    await page.selectOption('#asset', { label: asset });
  }

  await check('a paid checkout: the shop prices the item, Link pays it, the webhook settles it paid and safe to fulfil', async () => {
    await buy('alice', 'tee', 'USDC on Base');
    const options = await page.locator('#asset option').allTextContents();
    assert.deepEqual(options, ['Any asset (choose in Link)', 'USDC on Base', 'USDC on Solana', 'ETH on Ethereum']);
    assert.deepEqual(await page.locator('#items .name').allTextContents(), ['Mesh T-shirt', 'Enamel mug', 'Hoodie']);
    assert.deepEqual(await page.locator('#items .price').allTextContents(), ['$25.00', '$12.50', '$49.99']);
    await page.click('#pay');

    // The SDK's overlay iframe shows the sandbox's Link page (decoded from the linkToken) at the shop's price.
    const iframe = page.locator('iframe[src*="/link/"]');
    await iframe.waitFor();
    const link = page.frameLocator('iframe[src*="/link/"]');
    await assert.doesNotReject(link.locator('#amount').filter({ hasText: '$25.00' }).waitFor());
    await link.locator('#complete').click();

    await page.locator('#status[data-status="paid"]').waitFor({ timeout: 90_000 });
    assert.equal(await page.locator('#status').textContent(), 'Paid in full');
    assert.equal(await page.locator('#fulfil').getAttribute('data-safe'), 'true');
    await iframe.waitFor({ state: 'detached' }); // onExit after Link's 'done': the SDK removed its overlay
    const events = (await page.locator('#events').textContent()) ?? '';
    assert.match(events, /the shop created chk_[0-9a-f]{32} for order-[0-9a-f]+ at \$25\.00/);
    assert.match(events, /onTransferFinished success 25 USDC on Base/);
    assert.match(events, /onExit \(page transferExecutedPage\)/);
    assert.match(events, /GET \/shop\/checkouts\/… → paid/);
    const details = (await page.locator('#details').textContent()) ?? '';
    assert.match(details, /Price\$25\.00 USDReceived\$25\.00Arrived25(\.0+)? USDC on Base/);
    assert.match(details, /Flagsnone/);
    assert.match(details, /Tx hash/);
    // The order system's side: notify published the checkout's one checkout.paid, and the bus's rule delivered it.
    const checkoutId = /the shop created (chk_[0-9a-f]{32})/.exec(events)?.[1];
    assert.ok(checkoutId);
    const received = page.locator('#settlement li[data-type="checkout.paid"]').filter({ hasText: checkoutId });
    await received.waitFor({ timeout: 30_000 });
    assert.equal(await received.count(), 1);
    assert.match((await received.textContent()) ?? '', /evt_[0-9a-f]{32}/);
    if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
    assert.deepEqual(await page.evaluate(lowContrast), [], 'text under WCAG AA contrast on the finished page');
  });

  await check('an underpaid checkout: the sandbox delivers 20 USDC of 49.99, the page shows underpaid, not safe to fulfil', async () => {
    await buy('carol', 'hoodie', 'USDC on Base');
    await page.click('#pay');
    const iframe = page.locator('iframe[src*="/link/"]');
    await iframe.waitFor();
    const link = page.frameLocator('iframe[src*="/link/"]');
    await link.locator('#amount').filter({ hasText: '$49.99' }).waitFor();
    // The fake Link page's sandbox options: what actually arrives.
    await link.locator('summary', { hasText: 'Sandbox options' }).click();
    await link.locator('#optAmount').fill('20');
    await link.locator('#complete').click();

    await page.locator('#status[data-status="underpaid"]').waitFor({ timeout: 90_000 });
    assert.equal(await page.locator('#status').textContent(), 'Underpaid: less arrived than the price');
    assert.equal(await page.locator('#fulfil').getAttribute('data-safe'), 'false');
    const details = (await page.locator('#details').textContent()) ?? '';
    assert.match(details, /Price\$49\.99 USD/);
    assert.match(details, /Received\$20\.00Arrived/);
    assert.match(details, /Arrived20(\.0+)? USDC on Base/);
    assert.match((await page.locator('#events').textContent()) ?? '', /GET \/shop\/checkouts\/… → underpaid/);
    await iframe.waitFor({ state: 'detached' });
    assert.deepEqual(await page.evaluate(lowContrast), [], 'text under WCAG AA contrast on the underpaid page');
  });

  await check('a Paylink opens in a new tab and its checkout ends paid', async () => {
    await buy('bob', 'mug', 'USDC on Solana');
    const [paylink] = await Promise.all([context.waitForEvent('page'), page.click('#paylink')]);
    assert.match(paylink.url(), /\/paylink\//);
    await paylink.locator('#amount').filter({ hasText: '$12.50' }).waitFor();
    await paylink.locator('#complete').click();
    await page.locator('#status[data-status="paid"]').waitFor({ timeout: 90_000 });
    assert.equal(await page.locator('#fulfil').getAttribute('data-safe'), 'true');
    await paylink.close();
  });

  await check('the browser never sent a price or an order id to the link-token API', async () => {
    assert.equal(linkTokenBodies.length, 3);
    for (const body of linkTokenBodies) {
      assert.match(body.checkoutId, /^chk_[0-9a-f]{32}$/);
      const extra = Object.keys(body).filter((k) => !['checkoutId', 'symbol', 'network', 'paylink'].includes(k));
      assert.deepEqual(extra, [], JSON.stringify(body));
    }
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
