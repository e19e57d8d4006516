// The demo checkout: mint a link token on our backend, open Mesh Link with the real Web Link SDK, then
// trust only the backend (fed by Mesh's signed webhooks) for the outcome. Link's callbacks are shown, not
// believed: a client can claim anything.
import { createLink } from './vendor/web-link-sdk.js';

const config = window.DEMO_CONFIG;
const $ = (id) => document.getElementById(id);
const TERMINAL = new Set(['succeeded', 'failed']);
const LABEL = {
  created: 'Waiting for payment',
  pending: 'Payment submitted, waiting for the network',
  succeeded: 'Payment succeeded',
  failed: 'Payment failed',
};

let busy = false;
let pollRun = 0; // bumping it stops an older poll loop

function log(text) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  $('events').appendChild(li);
}

function setBusy(value) {
  busy = value;
  $('pay').disabled = value;
  $('paylink').disabled = value;
}

function showStatus(status, text) {
  $('result').hidden = false;
  $('status').dataset.status = status;
  $('status').textContent = text ?? LABEL[status] ?? status;
}

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

function showTransfer(t) {
  const r = t.received || {};
  showDetails([
    ['Transaction', t.transactionId],
    ['Amount', t.amountInFiat ? `$${t.amountInFiat}` : undefined],
    ['Received', r.amount ? `${r.amount} ${r.token ?? ''} on ${r.chain ?? ''}` : undefined],
    ['To', r.address],
    ['Tx hash', t.txHash],
    ['Mismatches', t.mismatches?.length ? t.mismatches.join(', ') : undefined],
  ]);
}

async function api(method, path, body) {
  const headers = { 'X-Local-User': $('user').value.trim() };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(config.linkTokenApi + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${res.status} ${json.code ?? ''} ${json.message ?? ''}`.trim());
  return json;
}

async function mint(extra) {
  const body = { amountInFiat: Number($('amount').value), ...extra };
  const pick = $('asset').value;
  if (pick !== '') Object.assign(body, config.destinations[Number(pick)]);
  log(`POST /link-tokens ${JSON.stringify(body)}`);
  const minted = await api('POST', '/link-tokens', body);
  log(`minted transaction ${minted.transactionId}`);
  showStatus('created');
  showDetails([['Transaction', minted.transactionId]]);
  return minted;
}

// Polls GET /transfers/{id} until a terminal status: 0.5 s, growing by half each time, at most 5 s apart.
async function poll(transactionId, { giveUpAfterMs }) {
  const run = ++pollRun;
  const started = Date.now();
  let delay = 500;
  let last;
  while (run === pollRun) {
    try {
      const t = await api('GET', `/transfers/${encodeURIComponent(transactionId)}`);
      if (t.status !== last) log(`GET /transfers/… → ${t.status}`);
      last = t.status;
      showStatus(t.status);
      showTransfer(t);
      if (TERMINAL.has(t.status)) return t.status;
    } catch (e) {
      log(`poll error: ${e.message} (retrying)`);
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
    log(`error: ${e.message}`);
    showStatus('error', `Could not start the payment: ${e.message}`);
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
    log(`error: ${e.message}`);
    showStatus('error', `Could not create the Paylink: ${e.message}`);
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
