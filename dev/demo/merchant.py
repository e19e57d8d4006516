"""The demo shop's backend: what a merchant's own server does with the checkout API (stdlib only).

The merchant's server, never the browser, decides what an order costs and who may pay it:

- the catalogue and its prices live here (CATALOGUE); the page only says which item;
- the shopper is whoever is logged in to the shop (here a `shopper` cookie set by POST /shop/session,
  standing in for the shop's own login);
- `POST /checkouts` on the link-token function creates the checkout for a fresh order id, at the catalogue
  price, for that shopper. The page then gets only the `checkoutId`, and pays it with its own credentials
  (`POST /link-tokens {checkoutId}`): it never sends a price or an order id.

Authentication of the merchant's server: locally (`AUTH_MODE=local`) the header `X-Local-Merchant: <name>`.
In AWS the checkout routes use IAM authorization: the merchant's backend signs each request with SigV4
(service `execute-api`) using its role's credentials, e.g. botocore's `SigV4Auth` or an AWS SDK's HTTP
signer; a shopper's JWT is refused there (403 `merchant_only`).

Served under /shop/ by serve.py, next to the page (same origin, as a shop's own site would be):

  GET  /shop/catalogue                  the items and their prices
  GET  /shop/session, POST /shop/session {"shopper"}   who is logged in (the demo's stand-in for a login)
  POST /shop/checkouts {"itemId"}       create the checkout for a new order of that item, as the merchant
  GET  /shop/checkouts/{checkoutId}     the checkout as the merchant reads it, if it is the shopper's own
"""
import json
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request

MERCHANT = "demo-shop"

# Prices are decimal strings, as the checkout API echoes them: never floats.
CATALOGUE = [
    {"id": "tee", "name": "Mesh T-shirt", "description": "Organic cotton, one size", "price": "25.00"},
    {"id": "mug", "name": "Enamel mug", "description": "Holds 350 ml of coffee", "price": "12.50"},
    {"id": "hoodie", "name": "Hoodie", "description": "Warm, with a zip", "price": "49.99"},
]
CURRENCY = "USD"
# A name the checkout API echoes as given: no e-mail address or phone number, at most 50 characters (it
# would answer a stable hash for those instead, and Mesh must not see them).
SHOPPER = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,49}$")
CHECKOUT_ID = re.compile(r"^chk_[0-9a-f]{32}$")


class ShopError(Exception):
    """An answer for the page: HTTP status, stable code, message."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self):
        return {"code": self.code, "message": self.message}


def item(item_id):
    for entry in CATALOGUE:
        if entry["id"] == item_id:
            return entry
    raise ShopError(404, "unknown_item", "itemId: no such item in the catalogue")


def valid_shopper(name):
    if not isinstance(name, str) or not SHOPPER.match(name):
        raise ShopError(400, "invalid_shopper", "shopper: a letter, then up to 49 letters, digits or . _ -")
    return name


class CheckoutApi:
    """The link-token function's merchant routes, called as the merchant's server."""

    def __init__(self, base_url, merchant=MERCHANT, timeout=60):
        self.base_url = base_url.rstrip("/")
        self.merchant = merchant
        self.timeout = timeout

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        # Locally: the merchant header. In AWS: no header, the request is signed with SigV4 instead.
        req.add_header("X-Local-Merchant", self.merchant)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as res:
                return json.loads(res.read() or b"null")
        except urllib.error.HTTPError as e:
            try:
                answer = json.loads(e.read() or b"{}")
            except ValueError:
                answer = {}
            if e.code >= 500:
                raise ShopError(502, "checkout_api_unavailable", "the checkout API answered %d" % e.code) from None
            raise ShopError(e.code, answer.get("code", "checkout_api_error"),
                            answer.get("message", "the checkout API refused the request")) from None
        except (urllib.error.URLError, OSError) as e:
            raise ShopError(502, "checkout_api_unavailable", "the checkout API is unreachable: %s" % e) from None

    def create(self, order_id, price, shopper, metadata):
        return self.call("POST", "/checkouts", {
            "orderId": order_id,
            "amountInFiat": price,
            "currency": CURRENCY,
            "userId": shopper,
            "metadata": metadata,
        })

    def get(self, checkout_id):
        return self.call("GET", "/checkouts/" + urllib.parse.quote(checkout_id, safe=""))


class Shop:
    def __init__(self, api):
        self.api = api

    def create_checkout(self, shopper, item_id):
        """A new order of one item for the logged-in shopper; the merchant's price, the merchant's order id."""
        entry = item(item_id)
        order_id = "order-" + secrets.token_hex(8)
        checkout = self.api.create(order_id, entry["price"], shopper, {"item": entry["id"], "shop": MERCHANT})
        return {"item": entry, "checkout": checkout}

    def read_checkout(self, shopper, checkout_id):
        """The checkout as the merchant sees it, only for the shopper it was made for."""
        if not CHECKOUT_ID.match(checkout_id):
            raise ShopError(404, "not_found", "checkoutId: no such checkout")
        checkout = self.api.get(checkout_id)
        if checkout.get("userId") != shopper:
            raise ShopError(404, "not_found", "checkoutId: no such checkout")
        entry = next((e for e in CATALOGUE if e["id"] == (checkout.get("metadata") or {}).get("item")), None)
        return {"item": entry, "checkout": checkout}


def shopper_from_cookie(header):
    for part in (header or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "shopper" and SHOPPER.match(value):
            return value
    return None


def handle(shop, method, path, headers, body):
    """One /shop request: (status, JSON body, extra headers)."""
    try:
        shopper = shopper_from_cookie(headers.get("Cookie"))
        if path == "/shop/catalogue" and method == "GET":
            return 200, {"currency": CURRENCY, "items": CATALOGUE}, {}
        if path == "/shop/session" and method == "GET":
            return 200, {"shopper": shopper}, {}
        if path == "/shop/session" and method == "POST":
            name = valid_shopper(parse(body).get("shopper"))
            cookie = "shopper=%s; Path=/; HttpOnly; SameSite=Strict" % name
            return 200, {"shopper": name}, {"Set-Cookie": cookie}
        if shopper is None:
            raise ShopError(401, "not_logged_in", "log in first (POST /shop/session)")
        if path == "/shop/checkouts" and method == "POST":
            item_id = parse(body).get("itemId")
            if not isinstance(item_id, str):
                raise ShopError(400, "invalid_item", "itemId: the id of a catalogue item")
            return 201, shop.create_checkout(shopper, item_id), {}
        if path.startswith("/shop/checkouts/") and method == "GET":
            return 200, shop.read_checkout(shopper, path[len("/shop/checkouts/"):]), {}
        raise ShopError(404, "not_found", "no shop route %s %s" % (method, path))
    except ShopError as e:
        return e.status, e.body(), {}


def parse(body):
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        raise ShopError(400, "invalid_json", "the body must be a JSON object") from None
    if not isinstance(value, dict):
        raise ShopError(400, "invalid_json", "the body must be a JSON object")
    return value
