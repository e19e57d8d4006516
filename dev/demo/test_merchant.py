"""The demo merchant's backend (merchant.py) against a stand-in checkout API on loopback, over HTTP:
the price and the order id come from the merchant, the shopper from its session, the merchant header is
sent, and a shopper reads only their own checkouts. `make test` runs it; alone:

  python3 -m unittest -v dev/demo/test_merchant.py
"""
import http.server
import json
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import merchant  # noqa: E402


class FakeCheckoutApi(http.server.BaseHTTPRequestHandler):
    """Answers POST /checkouts and GET /checkouts/{id} as the link-token function would, and records them."""

    requests = []
    checkouts = {}

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(("POST", self.path, self.headers.get("X-Local-Merchant"), body))
        if body["amountInFiat"] == "0.00":
            return self.answer(400, {"code": "invalid_amount", "message": "amountInFiat: must be positive"})
        view = {"checkoutId": "chk_" + "%032x" % (len(self.checkouts) + 1), "orderId": body["orderId"],
                "status": "open", "amountInFiat": body["amountInFiat"], "currency": body["currency"],
                "userId": body["userId"], "assets": [], "metadata": body["metadata"], "attempts": [],
                "receivedInFiat": None, "settledBy": None, "flags": [], "reviewRequired": False,
                "safeToFulfil": False}
        self.checkouts[view["checkoutId"]] = view
        self.answer(201, view)

    def do_GET(self):
        self.requests.append(("GET", self.path, self.headers.get("X-Local-Merchant"), None))
        view = self.checkouts.get(self.path.rsplit("/", 1)[-1])
        if view is None:
            return self.answer(404, {"code": "not_found", "message": "checkoutId: no such checkout"})
        if view["orderId"] == "order-broken":
            return self.answer(503, {"code": "temporarily_unavailable", "message": "DynamoDB: internal detail"})
        self.answer(200, view)

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class ShopTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeCheckoutApi)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        api = merchant.CheckoutApi("http://127.0.0.1:%d/" % cls.server.server_address[1], timeout=5)
        cls.shop = merchant.Shop(api)

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def setUp(self):
        FakeCheckoutApi.requests.clear()
        FakeCheckoutApi.checkouts.clear()

    def call(self, method, path, body=None, shopper=None):
        headers = {"Cookie": "theme=dark; shopper=%s" % shopper} if shopper else {}
        raw = None if body is None else json.dumps(body).encode()
        return merchant.handle(self.shop, method, path, headers, raw)

    def test_the_merchant_prices_the_order_and_names_the_shopper(self):
        status, body, _ = self.call("POST", "/shop/checkouts",
                                    {"itemId": "hoodie", "amountInFiat": 1, "orderId": "order-1001",
                                     "userId": "mallory"}, shopper="alice")
        self.assertEqual(status, 201)
        method, path, merchant_header, sent = FakeCheckoutApi.requests[-1]
        self.assertEqual((method, path, merchant_header), ("POST", "/checkouts", "demo-shop"))
        # The catalogue's price and the merchant's own order id; the browser's extra fields are ignored.
        self.assertEqual(sent["amountInFiat"], "49.99")
        self.assertEqual(sent["currency"], "USD")
        self.assertEqual(sent["userId"], "alice")
        self.assertRegex(sent["orderId"], r"^order-[0-9a-f]{16}$")
        self.assertNotEqual(sent["orderId"], "order-1001")
        self.assertEqual(sent["metadata"], {"item": "hoodie", "shop": "demo-shop"})
        self.assertEqual(body["item"]["id"], "hoodie")
        self.assertEqual(body["checkout"]["checkoutId"], "chk_%032x" % 1)
        # Each purchase is a new order.
        self.call("POST", "/shop/checkouts", {"itemId": "hoodie"}, shopper="alice")
        self.assertNotEqual(FakeCheckoutApi.requests[-1][3]["orderId"], sent["orderId"])

    def test_a_shopper_reads_only_their_own_checkout(self):
        _, created, _ = self.call("POST", "/shop/checkouts", {"itemId": "mug"}, shopper="alice")
        checkout_id = created["checkout"]["checkoutId"]
        status, body, _ = self.call("GET", "/shop/checkouts/" + checkout_id, shopper="alice")
        self.assertEqual(status, 200)
        self.assertEqual(body["checkout"]["status"], "open")
        self.assertEqual(body["item"]["id"], "mug")
        self.assertEqual(FakeCheckoutApi.requests[-1][:3], ("GET", "/checkouts/" + checkout_id, "demo-shop"))
        status, body, _ = self.call("GET", "/shop/checkouts/" + checkout_id, shopper="bob")
        self.assertEqual((status, body["code"]), (404, "not_found"))
        # Not an id: refused before any call.
        calls = len(FakeCheckoutApi.requests)
        status, _, _ = self.call("GET", "/shop/checkouts/..%2Fcheckouts", shopper="alice")
        self.assertEqual(status, 404)
        self.assertEqual(len(FakeCheckoutApi.requests), calls)

    def test_without_a_session_nothing_is_created(self):
        status, body, _ = self.call("POST", "/shop/checkouts", {"itemId": "tee"})
        self.assertEqual((status, body["code"]), (401, "not_logged_in"))
        self.assertEqual(FakeCheckoutApi.requests, [])

    def test_the_session_is_an_http_only_cookie_of_a_valid_name(self):
        status, body, headers = self.call("POST", "/shop/session", {"shopper": "bob"})
        self.assertEqual((status, body), (200, {"shopper": "bob"}))
        self.assertIn("HttpOnly", headers["Set-Cookie"])
        self.assertTrue(headers["Set-Cookie"].startswith("shopper=bob;"))
        for bad in ["", "a b", "x" * 51, 7, None, "bob;admin=1", "bob@example.com", "+15550100"]:
            status, body, _ = self.call("POST", "/shop/session", {"shopper": bad})
            self.assertEqual((status, body["code"]), (400, "invalid_shopper"), bad)
        self.assertEqual(self.call("GET", "/shop/session", shopper="bob")[1], {"shopper": "bob"})

    def test_errors_are_codes_and_upstream_details_stay_out(self):
        status, body, _ = self.call("POST", "/shop/checkouts", {"itemId": "yacht"}, shopper="alice")
        self.assertEqual((status, body["code"]), (404, "unknown_item"))
        status, body, _ = self.call("POST", "/shop/checkouts", "not an object", shopper="alice")
        self.assertEqual((status, body["code"]), (400, "invalid_json"))
        FakeCheckoutApi.checkouts["chk_" + "f" * 32] = {"orderId": "order-broken", "userId": "alice"}
        status, body, _ = self.call("GET", "/shop/checkouts/chk_" + "f" * 32, shopper="alice")
        self.assertEqual((status, body["code"]), (502, "checkout_api_unavailable"))
        self.assertNotIn("DynamoDB", body["message"])
        status, body, _ = self.call("GET", "/shop/checkouts/chk_" + "e" * 32, shopper="alice")
        self.assertEqual((status, body["code"]), (404, "not_found"))

    def test_the_api_refusal_is_passed_on_with_its_code(self):
        original = merchant.CATALOGUE[0]["price"]
        merchant.CATALOGUE[0]["price"] = "0.00"
        try:
            status, body, _ = self.call("POST", "/shop/checkouts", {"itemId": merchant.CATALOGUE[0]["id"]},
                                        shopper="alice")
        finally:
            merchant.CATALOGUE[0]["price"] = original
        self.assertEqual((status, body["code"]), (400, "invalid_amount"))

    def test_an_unreachable_api_is_a_502(self):
        shop = merchant.Shop(merchant.CheckoutApi("http://127.0.0.1:9/", timeout=2))
        status, body, _ = merchant.handle(shop, "POST", "/shop/checkouts", {"Cookie": "shopper=alice"},
                                          b'{"itemId": "tee"}')
        self.assertEqual((status, body["code"]), (502, "checkout_api_unavailable"))


if __name__ == "__main__":
    unittest.main()
