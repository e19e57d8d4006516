//! The fake Link UI: `GET /link/{id}` (what the Base64 link token points at, opened by the Web SDK in an
//! iframe) and `GET /paylink/{id}` (standalone). Plain HTML + inline JS, no external assets. It speaks the
//! Link iframe ↔ parent `postMessage` protocol (docs/mesh-contract.md §6) and finishes the session through the
//! control API on the same origin.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

use crate::catalog::{self, KNOWN_INTEGRATIONS, NETWORKS};
use crate::state::{AppState, LinkToken, TokenError};

pub async fn link(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    page(&state, &id, false)
}

pub async fn paylink(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    page(&state, &id, true)
}

/// `GET /logos/{name}.svg`: generated logos referenced by `logoUrl` fields.
pub async fn logo(Path(file): Path<String>) -> Response {
    let name = file.strip_suffix(".svg").unwrap_or(&file);
    (
        [(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=86400")],
        catalog::logo_svg(name),
    )
        .into_response()
}

fn page(state: &AppState, id: &str, paylink: bool) -> Response {
    let opened = state.lock().open_token(id, paylink, Instant::now());
    match opened {
        Ok(token) => Html(render(&token, paylink)).into_response(),
        Err(e) => {
            let status = match e {
                TokenError::Unknown => StatusCode::NOT_FOUND,
                TokenError::Expired | TokenError::Used => StatusCode::GONE,
            };
            let message = match e {
                TokenError::Unknown => "Invalid link token",
                TokenError::Expired => "Link token has expired",
                TokenError::Used => "Link token has already been used",
            };
            (status, Html(render_error(message))).into_response()
        }
    }
}

/// JSON embedded in a `<script>` element: `<`, `>` and `&` escaped so no string can close the element.
fn embed(value: &Value) -> String {
    value.to_string().replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

fn page_data(token: &LinkToken, paylink: bool) -> Value {
    let options = token.options.as_ref();
    let offered: Vec<Value> = options
        .map(|o| {
            o.to_addresses
                .iter()
                .map(|a| {
                    json!({
                        "networkId": a.network.id,
                        "networkName": a.network.name,
                        "symbol": a.symbol,
                        "address": a.address,
                        "amount": a.amount,
                        "displayAmountInFiat": a.display_amount_in_fiat,
                        "fromAddress": a.network.fake_address(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    // Without destinations the user may pick any network (the sandbox invents the address).
    let destinations = if offered.is_empty() {
        NETWORKS
            .iter()
            .map(|n| {
                let symbol = if n.tokens.contains(&"USDC") { "USDC" } else { n.native_symbol };
                json!({
                    "networkId": n.id,
                    "networkName": n.name,
                    "symbol": symbol,
                    "address": null,
                    "amount": null,
                    "displayAmountInFiat": null,
                    "fromAddress": n.fake_address(),
                })
            })
            .collect()
    } else {
        offered
    };
    json!({
        "tokenId": token.id,
        "paylink": paylink,
        "userId": token.user_id,
        "transactionId": token.transaction_id(),
        "amountInFiat": options.and_then(|o| o.amount_in_fiat),
        "transferType": options.and_then(|o| o.transfer_type.clone()),
        "destinations": destinations,
        "integrations": KNOWN_INTEGRATIONS,
        "controlUrl": "/sandbox/transfers",
    })
}

pub fn render(token: &LinkToken, paylink: bool) -> String {
    PAGE.replace("/*DATA*/null", &embed(&page_data(token, paylink)))
}

pub fn render_error(message: &str) -> String {
    ERROR_PAGE.replace("/*DATA*/null", &embed(&json!({ "errorMessage": message })))
}

const PAGE: &str = concat!(
    r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Mesh Link (sandbox)</title>"#,
    r#"<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1b1f24}
main{max-width:460px;margin:24px auto;background:#fff;border-radius:14px;box-shadow:0 2px 14px rgba(0,0,0,.08);padding:22px}
h1{font-size:18px;margin:0 0 4px}.sub{color:#667;font-size:13px;margin:0 0 16px}
.amount{font-size:30px;font-weight:700;margin:8px 0 14px}label{display:block;font-size:13px;color:#445;margin:10px 0 4px}
select,input{width:100%;box-sizing:border-box;padding:8px;border:1px solid #ccd;border-radius:8px;font-size:14px}
.dest{font-family:ui-monospace,monospace;font-size:12px;color:#556;word-break:break-all;margin-top:4px}
.row{display:flex;gap:8px;margin-top:18px}button{flex:1;padding:11px;border:0;border-radius:9px;font-size:14px;font-weight:600;cursor:pointer}
#complete{background:#1f6feb;color:#fff}#fail{background:#d1242f;color:#fff}#pending{background:#9a6700;color:#fff}#close{background:#e6e8eb;color:#1b1f24}
button:disabled{opacity:.5;cursor:default}details{margin-top:14px;font-size:13px}details label{display:flex;gap:6px;align-items:center}
details input[type=checkbox]{width:auto}#status{margin-top:14px;font-size:13px;min-height:18px}.err{color:#d1242f}.okay{color:#1a7f37}
.badge{display:inline-block;background:#eef;color:#335;border-radius:6px;padding:1px 6px;font-size:11px}
</style>"#,
    r#"</head><body><main>
<h1>Mesh Link <span class="badge">sandbox</span></h1>
<p class="sub" id="who"></p>
<div class="amount" id="amount"></div>
<label for="dest">Destination</label><select id="dest"></select><div class="dest" id="destAddr"></div>
<label for="source">Pay from</label><select id="source"></select>
<details><summary>Sandbox options</summary>
<label><input type="checkbox" id="optDrop"> drop webhooks (never sent)</label>
<label><input type="checkbox" id="optDup"> duplicate each webhook</label>
<label><input type="checkbox" id="optReverse"> out of order (terminal before pending)</label>
<label for="optSettle" style="display:block">stay pending for (ms)</label><input type="number" id="optSettle" min="0" value="0">
<p class="sub" style="margin:12px 0 0">What arrives instead of what was offered (empty: as offered)</p>
<label for="optAmount" style="display:block">amount delivered (token units)</label><input type="number" id="optAmount" min="0" step="any">
<label for="optToken" style="display:block">token delivered</label><input id="optToken" placeholder="e.g. ETH">
<label for="optAddress" style="display:block">delivered to address</label><input id="optAddress">
</details>
<div class="row"><button id="complete">Complete transfer</button><button id="fail">Fail transfer</button></div>
<div class="row"><button id="pending">Leave pending</button><button id="close">Close</button></div>
<div id="status" role="status"></div>
</main>
<script id="mesh-data" type="application/json">/*DATA*/null</script>
<script>
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("mesh-data").textContent);
  var page = "startPage";
  var finished = false;
  function post(message) {
    try { window.parent.postMessage(message, "*"); } catch (e) { /* no parent */ }
    if (window.opener) { try { window.opener.postMessage(message, "*"); } catch (e) { /* closed */ } }
  }
  function $(id) { return document.getElementById(id); }
  function money(v) { return v == null ? "" : "$" + Number(v).toFixed(2); }
  function setStatus(text, cls) { var s = $("status"); s.textContent = text; s.className = cls || ""; }
  $("who").textContent = "User " + data.userId + (data.transactionId ? " \u00b7 order " + data.transactionId : "") +
    (data.paylink ? " \u00b7 Paylink" : "");
  $("amount").textContent = data.amountInFiat != null ? money(data.amountInFiat) : "Choose an amount in your exchange";
  data.destinations.forEach(function (d, i) {
    var o = document.createElement("option");
    o.value = String(i);
    o.textContent = d.symbol + " on " + d.networkName + (d.amount != null ? " (" + d.amount + " " + d.symbol + ")" : "");
    $("dest").appendChild(o);
  });
  data.integrations.forEach(function (name) {
    var o = document.createElement("option"); o.value = name; o.textContent = name; $("source").appendChild(o);
  });
  function chosen() { return data.destinations[Number($("dest").value) || 0]; }
  function showDest() { var d = chosen(); $("destAddr").textContent = d.address ? "to " + d.address : "to a sandbox address"; }
  $("dest").addEventListener("change", showDest); showDest();
  function buttons(disabled) { ["complete", "fail", "pending"].forEach(function (id) { $(id).disabled = disabled; }); }

  function finish(outcome) {
    if (finished) { return; }
    buttons(true);
    setStatus("Sending transfer\u2026");
    var d = chosen();
    var body = {
      linkToken: data.tokenId, outcome: outcome, networkId: d.networkId, symbol: d.symbol,
      integration: $("source").value, fromAddress: d.fromAddress,
      settleAfterMs: outcome === "pending" ? 0 : (Number($("optSettle").value) || 0),
      webhooks: { drop: $("optDrop").checked, duplicates: $("optDup").checked ? 1 : 0, reverse: $("optReverse").checked }
    };
    var deliver = {};
    if ($("optAmount").value !== "") { deliver.amount = Number($("optAmount").value); }
    if ($("optToken").value.trim() !== "") { deliver.symbol = $("optToken").value.trim(); }
    if ($("optAddress").value.trim() !== "") { deliver.address = $("optAddress").value.trim(); }
    if (Object.keys(deliver).length) { body.deliver = deliver; }
    fetch(data.controlUrl, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
      .then(function (res) {
        if (!res.ok) { throw new Error(res.body && res.body.message ? res.body.message : "transfer refused"); }
        var t = res.body;
        finished = true;
        page = "transferExecutedPage";
        post({ type: "transferFinished", payload: {
          status: "success", txId: t.id, transferId: t.id, clientTransactionId: t.clientTransactionId,
          userId: t.userId, fromAddress: d.fromAddress, toAddress: t.destinationAddress, symbol: t.symbol,
          amount: t.amount, networkId: t.networkId, networkName: t.networkName, amountInFiat: t.amountInFiat,
          totalAmountInFiat: t.totalTransactionAmountInFiat, txHash: t.hash, refundAddress: t.refundAddress
        } });
        post({ type: "done", payload: {
          page: "transferExecutedPage",
          selectedIntegration: { id: t.from.id, name: t.from.name, type: t.from.type },
          transfer: { symbol: t.symbol, amount: t.amount, amountInFiat: t.amountInFiat,
            transactionId: t.clientTransactionId, networkId: t.networkId }
        } });
        setStatus("Transfer " + t.status + " \u00b7 " + t.id, "okay");
      })
      .catch(function (e) {
        setStatus(String(e.message || e), "err");
        post({ type: "close", payload: { page: "errorPage", errorMessage: String(e.message || e) } });
      });
  }
  $("complete").addEventListener("click", function () { finish("succeeded"); });
  $("fail").addEventListener("click", function () { finish("failed"); });
  $("pending").addEventListener("click", function () { finish("pending"); });
  $("close").addEventListener("click", function () { post({ type: "close", payload: { page: page } }); });
  post({ type: "loaded" });
})();
</script></body></html>
"#
);

const ERROR_PAGE: &str = concat!(
    r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Mesh Link (sandbox) - error</title>"#,
    r#"<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1b1f24}
main{max-width:460px;margin:24px auto;background:#fff;border-radius:14px;box-shadow:0 2px 14px rgba(0,0,0,.08);padding:22px}
h1{font-size:18px;margin:0 0 10px}p{color:#d1242f}button{padding:11px 18px;border:0;border-radius:9px;background:#e6e8eb;font-weight:600;cursor:pointer}
</style>"#,
    r#"</head><body><main>
<h1>Something went wrong</h1><p id="message"></p><button id="close">Close</button>
</main>
<script id="mesh-data" type="application/json">/*DATA*/null</script>
<script>
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("mesh-data").textContent);
  var sent = false;
  function post(message) {
    try { window.parent.postMessage(message, "*"); } catch (e) { /* no parent */ }
    if (window.opener) { try { window.opener.postMessage(message, "*"); } catch (e) { /* closed */ } }
  }
  function close() {
    if (sent) { return; }
    sent = true;
    post({ type: "close", payload: { page: "errorPage", errorMessage: data.errorMessage } });
  }
  document.getElementById("message").textContent = data.errorMessage;
  document.getElementById("close").addEventListener("click", close);
  post({ type: "loaded" });
  setTimeout(close, 1500);
})();
</script></body></html>
"#
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_json_cannot_close_the_script() {
        let s = embed(&json!({"x": "</script><script>alert(1)</script>&"}));
        assert!(!s.contains('<'));
        assert!(!s.contains('>'));
        let back: Value = serde_json::from_str(&s).expect("still JSON");
        assert_eq!(back["x"], "</script><script>alert(1)</script>&");
    }

    #[test]
    fn error_page_posts_close_with_message() {
        let html = render_error("Link token has expired");
        assert!(html.contains("Link token has expired"));
        assert!(html.contains("type: \"close\""));
        assert!(html.contains("errorMessage"));
        assert!(!html.contains("/*DATA*/"));
    }
}
