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

  await check('no request left this machine and the page threw nothing', async () => {
    assert.deepEqual(offHost, []);
    assert.deepEqual(errors, []);
  });
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
