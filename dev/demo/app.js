// The demo shop: the shop's own server (merchant.py, under /shop/) prices the item and creates the checkout
// as the merchant; this page gets only the checkoutId, asks the link-token API for a link token for it as the
// shopper, opens Mesh Link with the real Web Link SDK, then trusts only the backend (fed by Mesh's signed
// webhooks) for the outcome. Link's callbacks are shown, not believed: a client can claim anything. The page
// never sends a price or an order id to the link-token API.
//
// Type-checked (npm run check, in make test) against functions/link-token/openapi.d.ts, the types generated
// from the API's OpenAPI document: a renamed or removed field in the API fails the check here.
// @ts-check
import { createLink } from './vendor/web-link-sdk.js';

/** @typedef {import('../../functions/link-token/openapi').components['schemas']} Schemas */
/** @typedef {Schemas['LinkTokenRequest']} LinkTokenRequest */
/** @typedef {Schemas['LinkToken']} LinkToken */
/** @typedef {Schemas['Transfer']} Transfer */
/** @typedef {Schemas['Checkout']} Checkout */
/** @typedef {Schemas['Error']} ApiError */
/** @typedef {{ id: string, name: string, description: string, price: string }} Item */
/** @typedef {{ currency: string, items: Item[] }} Catalogue */
/** @typedef {{ item: Item | null, checkout: Checkout }} ShopCheckout  what merchant.py answers */

const config = window.DEMO_CONFIG;
/**
 * The page's own elements, by id (index.html): not what this check is about.
 * @param {string} id
 * @returns {any}
 */
const $ = (id) => document.getElementById(id);
/** Statuses that no longer change (expired and canceled may still be flagged late, never reopened). */
/** @type {Set<Checkout['status'] | undefined>} */
const SETTLED = new Set(['paid', 'underpaid', 'overpaid', 'expired', 'canceled']);
/** @type {Record<string, string>} */
const LABEL = {
  open: 'Waiting for payment',
  processing: 'Payment submitted, waiting for the network',
  paid: 'Paid in full',
  underpaid: 'Underpaid: less arrived than the price',
  overpaid: 'Overpaid: more arrived than the price',
  expired: 'Expired unpaid',
  canceled: 'Canceled',
};

let busy = false;
let pollRun = 0; // bumping it stops an older poll loop

/** @param {unknown} e */
const messageOf = (e) => (e instanceof Error ? e.message : String(e));

/** @param {string} text */
function log(text) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  $('events').appendChild(li);
}

/**
 * The settlement events the merchant's systems received (the bus's rules, read by serve.py from moto's
 * queues), newest last; one line per eventId, as a consumer deduplicates.
 */
async function showSettlementEvents() {
  try {
    const res = await fetch('/merchant-events.json');
    if (!res.ok) return;
    /** @type {{ 'detail-type': string, detail: { eventId: string, occurredAt: string, checkoutId?: string, transactionId?: string, orderId?: string | null, status: string } }[]} */
    const received = await res.json();
    const list = $('settlement');
    list.replaceChildren(...received.map((e) => {
      const li = document.createElement('li');
      const d = e.detail;
      li.dataset.type = e['detail-type'];
      li.textContent = `${d.occurredAt}  ${e['detail-type']}  ${d.checkoutId ?? d.transactionId ?? ''}  order ${d.orderId ?? '—'}  ${d.eventId}`;
      return li;
    }));
  } catch {
    // The list is a view of the local stack; a failed read shows the last one.
  }
}

/** @param {boolean} value */
function setBusy(value) {
  busy = value;
  $('pay').disabled = value;
  $('paylink').disabled = value;
}

/**
 * @param {string} status
 * @param {string} [text]
 */
function showStatus(status, text) {
  $('result').hidden = false;
  $('status').dataset.status = status;
  $('status').textContent = text ?? LABEL[status] ?? status;
}

/** @param {[string, string | undefined][]} rows */
function showDetails(rows) {
  const dl = $('details');
  dl.replaceChildren();
  for (const [k, v] of rows) {
    if (v === undefined || v === null || v === '') continue;
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dl.append(dt, dd);
  }
}

/**
 * What the merchant's order system reads: the status, whether to ship, and what asks a human to look.
 * @param {ShopCheckout} shop
 * @param {Transfer | undefined} transfer the shopper's view of the attempt that paid, once known
 */
function showCheckout({ item, checkout: c }, transfer) {
  showStatus(c.status);
  const fulfil = $('fulfil');
  fulfil.dataset.safe = String(c.safeToFulfil);
  fulfil.textContent = c.safeToFulfil
    ? 'Safe to fulfil: yes, ship the order'
    : `Safe to fulfil: no${c.reviewRequired ? ', a human should look' : ''}`;
  /** @type {Partial<Schemas['Received']>} */
  const r = transfer?.received ?? {};
  showDetails([
    ['Item', item ? item.name : undefined],
    ['Order', c.orderId],
    ['Checkout', c.checkoutId],
    ['Price', `$${c.amountInFiat} ${c.currency}`],
    // Display only: the exact decimal stays the API's.
    ['Received', c.receivedInFiat != null ? `$${Number(c.receivedInFiat).toFixed(2)}` : undefined],
    ['Arrived', r.amount ? `${r.amount} ${r.token ?? ''} on ${r.chain ?? ''}` : undefined],
    ['To', r.address],
    ['Flags', c.flags.length ? c.flags.join(', ') : 'none'],
    ['Attempts', String(c.attempts.length)],
    ['Settled by', c.settledBy ?? undefined],
    ['Tx hash', transfer?.txHash ?? undefined],
  ]);
}

/**
 * One JSON call; a non-2xx answer throws with its `code` and `message`.
 * @param {string} url
 * @param {'GET' | 'POST'} method
 * @param {Record<string, string>} headers
 * @param {unknown} [body]
 * @returns {Promise<unknown>}
 */
async function call(url, method, headers, body) {
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const error = /** @type {Partial<ApiError>} */ (json);
    throw new Error(`${res.status} ${error.code ?? ''} ${error.message ?? ''}`.trim());
  }
  return json;
}

const shopper = () => $('user').value.trim();

/**
 * The link-token API as the shopper (locally X-Local-User; in AWS the shopper's JWT).
 * @param {'GET' | 'POST'} method
 * @param {string} path
 * @param {unknown} [body]
 */
const api = (method, path, body) => call(config.linkTokenApi + path, method, { 'X-Local-User': shopper() }, body);

/**
 * The shop's own server (same origin; its session cookie says who is logged in).
 * @param {'GET' | 'POST'} method
 * @param {string} path
 * @param {unknown} [body]
 */
const shop = (method, path, body) => call(`/shop${path}`, method, {}, body);

/** POST /link-tokens: a link token for the checkout, as its shopper. @param {LinkTokenRequest} body */
const createLinkToken = async (body) => /** @type {LinkToken} */ (await api('POST', '/link-tokens', body));

/** GET /transfers/{transactionId}: the shopper's attempt. @param {string} transactionId */
const getTransfer = async (transactionId) =>
  /** @type {Transfer} */ (await api('GET', `/transfers/${encodeURIComponent(transactionId)}`));

/** GET /shop/checkouts/{id}: the merchant's view, through the shop. @param {string} checkoutId */
const getCheckout = async (checkoutId) =>
  /** @type {ShopCheckout} */ (await shop('GET', `/checkouts/${encodeURIComponent(checkoutId)}`));

/**
 * The shop creates the checkout (its price, its order id), then the page asks for a link token for it.
 * @param {{ paylink?: boolean }} extra
 */
async function start(extra) {
  await shop('POST', '/session', { shopper: shopper() });
  const itemId = /** @type {HTMLInputElement | null} */ (document.querySelector('input[name="item"]:checked'))?.value;
  log(`POST /shop/checkouts {"itemId":"${itemId}"}`);
  const created = /** @type {ShopCheckout} */ (await shop('POST', '/checkouts', { itemId }));
  const { checkoutId } = created.checkout;
  log(`the shop created ${checkoutId} for ${created.checkout.orderId} at $${created.checkout.amountInFiat}`);
  showCheckout(created, undefined);

  /** @type {LinkTokenRequest} */
  const body = { checkoutId, ...extra };
  const pick = $('asset').value;
  if (pick !== '') Object.assign(body, config.destinations[Number(pick)]);
  log(`POST /link-tokens ${JSON.stringify(body)}`);
  const minted = await createLinkToken(body);
  log(`minted attempt ${minted.transactionId}`);
  return { checkoutId, minted };
}

/**
 * Polls the checkout until it settles: 0.5 s, growing by half each time, at most 5 s apart. Shows what
 * arrived from the shopper's transfer once the checkout settles.
 * @param {string} checkoutId
 * @param {string} transactionId
 * @param {{ giveUpAfterMs: number }} options
 * @returns {Promise<Checkout['status'] | undefined>}
 */
async function poll(checkoutId, transactionId, { giveUpAfterMs }) {
  const run = ++pollRun;
  const started = Date.now();
  let delay = 500;
  /** @type {Checkout['status'] | undefined} */
  let last;
  while (run === pollRun) {
    try {
      const view = await getCheckout(checkoutId);
      const c = view.checkout;
      if (c.status !== last) log(`GET /shop/checkouts/… → ${c.status}${c.flags.length ? ` [${c.flags.join(', ')}]` : ''}`);
      last = c.status;
      const settled = SETTLED.has(c.status);
      showCheckout(view, settled ? await getTransfer(transactionId).catch(() => undefined) : undefined);
      if (settled) return c.status;
    } catch (e) {
      log(`poll error: ${messageOf(e)} (retrying)`);
    }
    if (Date.now() - started > giveUpAfterMs) {
      if (last !== 'open') {
        showStatus(last ?? 'error', `Still ${last ?? 'unknown'}: the webhook has not arrived; reconcile will settle it.`);
      }
      return last;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 1.5, 5000);
  }
  return last;
}

/** @param {SubmitEvent} event */
async function pay(event) {
  event.preventDefault();
  if (busy) return;
  setBusy(true);
  try {
    const { checkoutId, minted } = await start({});
    const { transactionId, linkToken } = minted;
    let finished = false;
    const link = createLink({
      // Required by the SDK. Fires when the user connects an exchange or wallet inside Link.
      onIntegrationConnected: (payload) => {
        log(`onIntegrationConnected ${payload.accessToken?.brokerName ?? payload.accessToken?.brokerType ?? ''}`);
      },
      onTransferFinished: (payload) => {
        finished = true;
        log(`onTransferFinished ${payload.status} ${payload.amount ?? ''} ${payload.symbol ?? ''} on ${payload.networkName ?? payload.networkId ?? ''}`);
        showStatus('processing', 'Link says the transfer was submitted; confirming with the backend…');
        poll(checkoutId, transactionId, { giveUpAfterMs: 120_000 }).finally(() => setBusy(false));
      },
      onExit: (error, summary) => {
        log(`onExit${error ? ` error: ${error}` : ''}${summary?.page ? ` (page ${summary.page})` : ''}`);
        if (!finished) {
          // Closed before paying: show what the backend knows once; the checkout stays open to pay again.
          poll(checkoutId, transactionId, { giveUpAfterMs: 0 }).then((s) => {
            if (!SETTLED.has(s)) showStatus(s ?? 'error', error ? `Link closed: ${error}` : 'Link closed before paying');
          }).finally(() => setBusy(false));
        }
      },
      onEvent: (e) => log(`onEvent ${e.type ?? ''}`),
    });
    log('openLink(linkToken)');
    link.openLink(linkToken);
  } catch (e) {
    log(`error: ${messageOf(e)}`);
    showStatus('error', `Could not start the payment: ${messageOf(e)}`);
    setBusy(false);
  }
}

async function payWithPaylink() {
  if (busy) return;
  setBusy(true);
  try {
    const { checkoutId, minted } = await start({ paylink: true });
    log(`opening the Paylink ${minted.paymentLink}`);
    window.open(minted.paymentLink, '_blank');
    await poll(checkoutId, minted.transactionId, { giveUpAfterMs: 600_000 });
  } catch (e) {
    log(`error: ${messageOf(e)}`);
    showStatus('error', `Could not create the Paylink: ${messageOf(e)}`);
  } finally {
    setBusy(false);
  }
}

async function init() {
  // One read at a time (a read briefly hides the queue's messages from any other reader), every 2 s.
  (async function refresh() {
    await showSettlementEvents();
    setTimeout(refresh, 2000);
  })();
  const select = $('asset');
  select.append(new Option('Any asset (choose in Link)', ''));
  config.destinations.forEach((d, i) => select.append(new Option(`${d.symbol} on ${d.network}`, String(i))));
  if (config.destinations.length) select.value = '0';

  const catalogue = /** @type {Catalogue} */ (await shop('GET', '/catalogue'));
  catalogue.items.forEach((item, i) => {
    const label = document.createElement('label');
    label.className = 'item';
    const radio = document.createElement('input');
    Object.assign(radio, { type: 'radio', name: 'item', value: item.id, checked: i === 0 });
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = item.name;
    const about = document.createElement('span');
    about.className = 'about';
    about.textContent = item.description;
    const price = document.createElement('span');
    price.className = 'price';
    price.textContent = `$${item.price}`;
    label.append(radio, name, price, about);
    $('items').append(label);
  });

  $('checkout').addEventListener('submit', pay);
  $('paylink').addEventListener('click', payWithPaylink);
  setBusy(false);
  document.body.dataset.ready = 'true';
}

init().catch((e) => {
  log(`error: ${messageOf(e)}`);
  showStatus('error', `The shop is not available: ${messageOf(e)}`);
});
