// The demo checkout: mint a link token on our backend, open Mesh Link with the real Web Link SDK, then
// trust only the backend (fed by Mesh's signed webhooks) for the outcome. Link's callbacks are shown, not
// believed: a client can claim anything.
//
// Type-checked (npm run check, in make test) against functions/link-token/openapi.d.ts, the types generated
// from the API's OpenAPI document: a renamed or removed field in the API fails the check here.
// @ts-check
import { createLink } from './vendor/web-link-sdk.js';

/** @typedef {import('../../functions/link-token/openapi').components['schemas']} Schemas */
/** @typedef {Schemas['LinkTokenRequest']} LinkTokenRequest */
/** @typedef {Schemas['LinkToken']} LinkToken */
/** @typedef {Schemas['Transfer']} Transfer */
/** @typedef {Schemas['Error']} ApiError */

const config = window.DEMO_CONFIG;
/**
 * The page's own elements, by id (index.html): not what this check is about.
 * @param {string} id
 * @returns {any}
 */
const $ = (id) => document.getElementById(id);
/** @type {Set<Transfer['status'] | undefined>} */
const TERMINAL = new Set(['succeeded', 'failed']);
/** @type {Record<string, string>} */
const LABEL = {
  created: 'Waiting for payment',
  pending: 'Payment submitted, waiting for the network',
  succeeded: 'Payment succeeded',
  failed: 'Payment failed',
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

/** @param {Transfer} t */
function showTransfer(t) {
  /** @type {Partial<Schemas['Received']>} */
  const r = t.received ?? {};
  showDetails([
    ['Transaction', t.transactionId],
    ['Amount', t.amountInFiat ? `$${t.amountInFiat}` : undefined],
    ['Received', r.amount ? `${r.amount} ${r.token ?? ''} on ${r.chain ?? ''}` : undefined],
    ['To', r.address],
    ['Tx hash', t.txHash],
    ['Mismatches', t.mismatches?.length ? t.mismatches.join(', ') : undefined],
  ]);
}

/**
 * One call to the link-token API as the demo user; a non-2xx answer throws with the API's `code` and `message`.
 * @param {'GET' | 'POST'} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<unknown>}
 */
async function api(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { 'X-Local-User': $('user').value.trim() };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(config.linkTokenApi + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const error = /** @type {Partial<ApiError>} */ (json);
    throw new Error(`${res.status} ${error.code ?? ''} ${error.message ?? ''}`.trim());
  }
  return json;
}

/**
 * POST /link-tokens
 * @param {LinkTokenRequest} body
 */
const createLinkToken = async (body) => /** @type {LinkToken} */ (await api('POST', '/link-tokens', body));

/**
 * GET /transfers/{transactionId}
 * @param {string} transactionId
 */
const getTransfer = async (transactionId) =>
  /** @type {Transfer} */ (await api('GET', `/transfers/${encodeURIComponent(transactionId)}`));

/** @param {LinkTokenRequest} extra */
async function mint(extra) {
  /** @type {LinkTokenRequest} */
  const body = { amountInFiat: Number($('amount').value), ...extra };
  const pick = $('asset').value;
  if (pick !== '') Object.assign(body, config.destinations[Number(pick)]);
  log(`POST /link-tokens ${JSON.stringify(body)}`);
  const minted = await createLinkToken(body);
  log(`minted transaction ${minted.transactionId}`);
  showStatus('created');
  showDetails([['Transaction', minted.transactionId]]);
  return minted;
}

/**
 * Polls GET /transfers/{id} until a terminal status: 0.5 s, growing by half each time, at most 5 s apart.
 * @param {string} transactionId
 * @param {{ giveUpAfterMs: number }} options
 * @returns {Promise<Transfer['status'] | undefined>}
 */
async function poll(transactionId, { giveUpAfterMs }) {
  const run = ++pollRun;
  const started = Date.now();
  let delay = 500;
  /** @type {Transfer['status'] | undefined} */
  let last;
  while (run === pollRun) {
    try {
      const t = await getTransfer(transactionId);
      if (t.status !== last) log(`GET /transfers/… → ${t.status}`);
      last = t.status;
      showStatus(t.status);
      showTransfer(t);
      if (TERMINAL.has(t.status)) return t.status;
    } catch (e) {
      log(`poll error: ${messageOf(e)} (retrying)`);
    }
    if (Date.now() - started > giveUpAfterMs) {
      showStatus(last ?? 'error', `Still ${last ?? 'unknown'}: the webhook has not arrived; reconcile will settle it.`);
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
    const { transactionId, linkToken } = await mint({});
    let finished = false;
    const link = createLink({
      // Required by the SDK. Fires when the user connects an exchange or wallet inside Link.
      onIntegrationConnected: (payload) => {
        log(`onIntegrationConnected ${payload.accessToken?.brokerName ?? payload.accessToken?.brokerType ?? ''}`);
      },
      onTransferFinished: (payload) => {
        finished = true;
        log(`onTransferFinished ${payload.status} ${payload.amount ?? ''} ${payload.symbol ?? ''} on ${payload.networkName ?? payload.networkId ?? ''}`);
        showStatus('pending', 'Link says the transfer was submitted; confirming with the backend…');
        poll(transactionId, { giveUpAfterMs: 120_000 }).finally(() => setBusy(false));
      },
      onExit: (error, summary) => {
        log(`onExit${error ? ` error: ${error}` : ''}${summary?.page ? ` (page ${summary.page})` : ''}`);
        if (!finished) {
          // Closed before paying: show what the backend knows once, and let the user try again.
          poll(transactionId, { giveUpAfterMs: 0 }).then((s) => {
            if (!TERMINAL.has(s)) showStatus(s ?? 'error', error ? `Link closed: ${error}` : 'Link closed before paying');
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
    const { transactionId, paymentLink } = await mint({ paylink: true });
    log(`opening the Paylink ${paymentLink}`);
    window.open(paymentLink, '_blank');
    await poll(transactionId, { giveUpAfterMs: 600_000 });
  } catch (e) {
    log(`error: ${messageOf(e)}`);
    showStatus('error', `Could not create the Paylink: ${messageOf(e)}`);
  } finally {
    setBusy(false);
  }
}

function init() {
  const select = $('asset');
  select.append(new Option('Any asset (choose in Link)', ''));
  config.destinations.forEach((d, i) => select.append(new Option(`${d.symbol} on ${d.network}`, String(i))));
  if (config.destinations.length) select.value = '0';
  $('checkout').addEventListener('submit', pay);
  $('paylink').addEventListener('click', payWithPaylink);
  setBusy(false);
  document.body.dataset.ready = 'true';
}

init();
