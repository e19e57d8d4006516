#!/usr/bin/env python3
"""What cfn-lint cannot check in template.yaml: the promises the stack makes (README "Deploy",
shared/reliability.md S1-S8, F6).

- least privilege: the exact IAM actions and resources of each function, matched against the SDK calls
  in the Rust code; no wildcard action or resource anywhere, SAM-generated roles included;
- the JWT authorizer on every shoppers' route and IAM authorization on every /checkouts route (as written
  and after the SAM transform), the routes = openapi.json;
- the webhook's public function URL (AuthType NONE) is the only public entry point;
- AUTH_MODE=local (and the local Mesh URL override) never set;
- failures captured: the schedule's retry policy and dead-letter queue, the on-failure destination;
- settlement events: the table's stream, notify's event source mapping (filters, partial batch responses,
  bisect, retry limits, on-failure queue) exactly as dev/stream_poller.py applies it, the bus and its
  archive, the optional subscriptions, a JSON Schema per event type;
- the table identical to what dev/bootstrap.py creates locally (created on moto and compared);
- alarms and the dashboard name metrics the code really emits.

Run: .dev/venv/bin/python -m unittest -v dev/test_template.py   (TEMPLATE=path checks another file)
"""
import contextlib
import io
import json
import logging
import os
import re
import socket
import sys
import unittest
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "dev"))
import bootstrap  # noqa: E402  the CloudFormation loader and the local table, reused as they are

TEMPLATE = Path(os.environ.get("TEMPLATE", ROOT / "template.yaml"))

FUNCTIONS = {"LinkTokenFunction": "link-token", "WebhookFunction": "webhook", "ReconcileFunction": "reconcile",
             "NotifyFunction": "notify"}
# Functions that read the Mesh secret (notify never calls Mesh).
MESH_FUNCTIONS = ("LinkTokenFunction", "WebhookFunction", "ReconcileFunction")

# ---------------------------------------------------------------- expected grants

TABLE = {"Fn::GetAtt": ["TransfersTable", "Arn"]}
SECRET = {"Fn::If": ["CreateMeshSecret", {"Ref": "MeshSecret"}, {"Ref": "ExistingMeshSecretArn"}]}
FAILURE_QUEUE = {"Fn::GetAtt": ["ReconcileFailureQueue", "Arn"]}
STREAM = {"Fn::GetAtt": ["TransfersTable", "StreamArn"]}
BUS = {"Fn::GetAtt": ["PaymentsEventBus", "Arn"]}
NOTIFY_FAILURE_QUEUE = {"Fn::GetAtt": ["NotifyFailureQueue", "Arn"]}
# What Lambda's event source mapping calls with the function's role; the function's code calls none of it.
STREAM_READ = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams")
KMS_KEY = {"Ref": "MeshSecretKmsKeyArn"}
XRAY_WRITE = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}  # no resource-level permissions exist


def index(name):
    return {"Fn::Sub": "${TransfersTable.Arn}/index/" + name}


def own_logs(binary):
    return {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/"
            "${AWS::StackName}-" + binary + ":*"}


def base(binary, secret=True):
    return {
        ("logs:CreateLogStream", key(own_logs(binary))),
        ("logs:PutLogEvents", key(own_logs(binary))),
        ("xray:PutTraceSegments", key("*")),
        ("xray:PutTelemetryRecords", key("*")),
    } | ({("secretsmanager:GetSecretValue", key(SECRET))} if secret else set())


def key(value):
    return json.dumps(value, sort_keys=True)


def grants(*pairs):
    return {(action, key(resource)) for action, resource in pairs}


# (action, resource) granted unconditionally, per function. TransactWriteItems has no IAM action of its
# own: IAM checks each part (the code's transactions are Put + Update, no ConditionCheck).
EXPECTED = {
    "LinkTokenFunction": base("link-token") | grants(
        ("dynamodb:GetItem", TABLE), ("dynamodb:PutItem", TABLE), ("dynamodb:UpdateItem", TABLE),
        ("dynamodb:DeleteItem", TABLE), ("dynamodb:Query", index("by-user")),
    ),
    "WebhookFunction": base("webhook") | grants(
        ("dynamodb:GetItem", TABLE), ("dynamodb:PutItem", TABLE), ("dynamodb:UpdateItem", TABLE),
    ),
    "ReconcileFunction": base("reconcile") | grants(
        ("dynamodb:GetItem", TABLE), ("dynamodb:PutItem", TABLE), ("dynamodb:UpdateItem", TABLE),
        ("dynamodb:Query", index("open-transfers")), ("dynamodb:Query", index("open-checkouts")),
        ("sqs:SendMessage", FAILURE_QUEUE),
    ),
    # The stream (read by the event source mapping), the one bus, the on-failure queue: no table item.
    "NotifyFunction": base("notify", secret=False) | grants(
        *((action, STREAM) for action in STREAM_READ),
        ("events:PutEvents", BUS), ("sqs:SendMessage", NOTIFY_FAILURE_QUEUE),
    ),
}
# Item-level narrowing (dynamodb:LeadingKeys = the partition key) of a function's table grants: action ->
# the key patterns it may touch. link-token reads and puts transfers, checkouts, order pointers and its
# idempotency records; it updates only checkouts (an attempt appended, a cancel) and idempotency records,
# and deletes only idempotency records. Its transactions are Put + Put (a checkout and its order's
# pointer) and Put + Update (an attempt's transfer and its checkout): no ConditionCheck.
EXPECTED_LEADING_KEYS = {
    "LinkTokenFunction": {
        "dynamodb:GetItem": {"TRANSFER#*", "IDEMPOTENCY#*", "CHECKOUT#*", "ORDER#*"},
        "dynamodb:PutItem": {"TRANSFER#*", "IDEMPOTENCY#*", "CHECKOUT#*", "ORDER#*"},
        "dynamodb:UpdateItem": {"CHECKOUT#*", "IDEMPOTENCY#*"},
        "dynamodb:DeleteItem": {"IDEMPOTENCY#*"},
    },
    "WebhookFunction": {},
    "ReconcileFunction": {},
    "NotifyFunction": {},
}
# Granted only under a condition: kms:Decrypt on a customer-managed key of an existing secret.
EXPECTED_CONDITIONAL = {fn: {("HasMeshSecretKmsKey", "kms:Decrypt", key(KMS_KEY))} if fn in MESH_FUNCTIONS else set()
                        for fn in FUNCTIONS}

# ---------------------------------------------------------------- helpers


def load(path=TEMPLATE):
    return yaml.load(path.read_text(), Loader=bootstrap.CfnLoader)


def as_list(value):
    return value if isinstance(value, list) else [value]


def statements(policy_document):
    """(condition or None, statement) for each statement, unwrapping `!If [cond, stmt, !Ref AWS::NoValue]`."""
    for st in as_list(policy_document.get("Statement", [])):
        if isinstance(st, dict) and "Fn::If" in st:
            cond, then, otherwise = st["Fn::If"]
            assert otherwise == {"Ref": "AWS::NoValue"}, f"unexpected else-branch {otherwise}"
            yield cond, then
        else:
            yield None, st


def role_statements(role):
    props = role["Properties"]
    for policy in props.get("Policies", []):
        yield from statements(policy["PolicyDocument"])


def transformed(template):
    """The template after the SAM transform (offline; what CloudFormation would deploy)."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self):
            raise AssertionError("the template names an AWS managed policy: spell the statements out")

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    t = json.loads(json.dumps(template))
    t["Globals"]["Function"]["CodeUri"] = "s3://bucket/key"  # what `sam validate` substitutes too
    return transform(t, {"AWS::Region": "us-east-1"}, NoManagedPolicies())


def rust_sources():
    """The functions' Rust source without test modules and test support."""
    text = []
    for path in sorted([*ROOT.glob("shared/src/**/*.rs"), *ROOT.glob("functions/*/src/**/*.rs")]):
        if path.name in ("testkit.rs", "tests.rs"):
            continue
        # Inline test modules go; `#[cfg(test)] mod tests;` declarations stay harmless.
        text.append(re.split(r"#\[cfg\(test\)\]\s*mod \w+ \{", path.read_text())[0])
    return "\n".join(text)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Template(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.raw = TEMPLATE.read_text()
        cls.t = load()
        cls.res = cls.t["Resources"]
        cls.out = transformed(cls.t)
        cls.code = rust_sources()

    def fn(self, name):
        return self.res[name]["Properties"]

    def role_of(self, name):
        role = self.fn(name)["Role"]
        self.assertEqual(role.get("Fn::GetAtt", [None, None])[1], "Arn", f"{name}: Role must be !GetAtt <Role>.Arn")
        return self.res[role["Fn::GetAtt"][0]]

    # ------------------------------------------------------------ functions

    def test_the_rust_functions_built_from_the_workspace(self):
        functions = {k for k, v in self.res.items() if v["Type"] == "AWS::Serverless::Function"}
        self.assertEqual(functions, set(FUNCTIONS))
        g = self.t["Globals"]["Function"]
        self.assertEqual((g["Runtime"], g["Architectures"], g["Handler"], g["CodeUri"], g["Tracing"]),
                         ("provided.al2023", ["arm64"], "bootstrap", ".", "Active"))
        self.assertEqual(g["LoggingConfig"]["LogFormat"], "JSON")
        # EMF lines have no level: Lambda files them under INFO, so a higher level would drop the metrics.
        self.assertEqual(g["LoggingConfig"].get("ApplicationLogLevel", "INFO"), "INFO")
        for name, binary in FUNCTIONS.items():
            with self.subTest(name):
                meta = self.res[name]["Metadata"]
                self.assertEqual(meta["BuildMethod"], "rust-cargolambda")
                self.assertEqual(meta["BuildProperties"]["Binary"], binary)
                self.assertTrue((ROOT / "functions" / binary / "src/main.rs").exists())
                props = self.fn(name)
                self.assertEqual(props.get("PackageType", "Zip"), "Zip")
                self.assertIsInstance(props.get("Timeout"), int, "a deliberate Timeout per function")
                self.assertIsInstance(props.get("MemorySize"), int, "a deliberate MemorySize per function")
                self.assertIn("ReservedConcurrentExecutions", props)
        self.assertLess(self.fn("LinkTokenFunction")["Timeout"], 30, "HTTP API's integration limit is 30 s")
        # reconcile keeps a 20 s deadline margin: the timeout must leave room for pages.
        self.assertGreaterEqual(self.fn("ReconcileFunction")["Timeout"], 60)

    def test_the_code_defaults_its_timeout_to_the_template_s(self):
        # An invocation without a usable deadline (cargo lambda watch sends one in 1970) is taken to last the
        # function's timeout (shared/src/runtime/deadline.rs): the code's default must be the template's.
        for name, binary in (("LinkTokenFunction", "link-token"), ("ReconcileFunction", "reconcile")):
            with self.subTest(name):
                source = "".join(p.read_text() for p in (ROOT / "functions" / binary / "src").rglob("*.rs"))
                found = re.findall(r"DEFAULT_TIMEOUT: Duration = Duration::from_secs\((\d+)\)", source)
                self.assertEqual(found, [str(self.fn(name)["Timeout"])])

    def test_environment_names_exist_in_the_code(self):
        names = set(self.t["Globals"]["Function"]["Environment"]["Variables"])
        for name in FUNCTIONS:
            names |= set(self.fn(name).get("Environment", {}).get("Variables", {}))
        self.assertTrue({"TRANSFERS_TABLE", "MESH_SECRET_ID", "MESH_ENV"} <= names)
        self.assertIn("DESTINATIONS", self.fn("LinkTokenFunction")["Environment"]["Variables"])
        for var in sorted(names):
            with self.subTest(var):
                self.assertTrue(f'"{var}"' in self.code, f"{var} is set by the template but read nowhere")

    def test_local_auth_and_local_mesh_are_never_set(self):
        envs = [("Globals", self.t["Globals"]["Function"].get("Environment", {}).get("Variables", {}))]
        envs += [(n, self.fn(n).get("Environment", {}).get("Variables", {})) for n in FUNCTIONS]
        for where, env in envs:
            with self.subTest(where):
                self.assertIn(str(env.get("AUTH_MODE", "jwt")).strip().lower(), {"jwt"})
                self.assertNotIn("MESH_API_BASE_URL", env, "a deployed stack talks to Mesh, never an override")
        for line in self.raw.splitlines():
            self.assertFalse(re.match(r"\s*AUTH_MODE\b.*local", line, re.I), line)
        self.assertEqual(self.fn("LinkTokenFunction")["Environment"]["Variables"]["AUTH_MODE"], "jwt")

    # ------------------------------------------------------------ least privilege

    def test_each_function_has_exactly_its_grants(self):
        for name in FUNCTIONS:
            with self.subTest(name):
                props = self.fn(name)
                for generated in ("Policies", "PermissionsBoundary"):
                    self.assertNotIn(generated, props, "permissions live in the function's own role")
                role = self.role_of(name)["Properties"]
                self.assertNotIn("ManagedPolicyArns", role)
                trust = list(statements(role["AssumeRolePolicyDocument"]))
                self.assertEqual([st["Principal"] for _, st in trust], [{"Service": "lambda.amazonaws.com"}])
                granted, conditional, leading = set(), set(), {}
                for cond, st in role_statements(self.role_of(name)):
                    self.assertEqual(st["Effect"], "Allow")
                    self.assertFalse({"NotAction", "NotResource"} & set(st), "no NotAction/NotResource")
                    pairs = {(a, key(r)) for a in as_list(st["Action"]) for r in as_list(st["Resource"])}
                    if cond is None and "Condition" in st:
                        self.assertEqual(list(st["Condition"]), ["ForAllValues:StringLike"])
                        self.assertEqual(list(st["Condition"]["ForAllValues:StringLike"]), ["dynamodb:LeadingKeys"])
                        for a in as_list(st["Action"]):
                            self.assertNotIn(a, leading, f"{a} narrowed once")
                            leading[a] = set(st["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
                        granted |= pairs
                    elif cond is None:
                        granted |= pairs
                    else:
                        conditional |= {(cond, a, r) for a, r in pairs}
                        self.assertEqual(st["Condition"], {"StringEquals": {"kms:ViaService": {
                            "Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}}})
                self.assertEqual(granted, EXPECTED[name])
                self.assertEqual(conditional, EXPECTED_CONDITIONAL[name])
                self.assertEqual(leading, EXPECTED_LEADING_KEYS[name])

    def test_leading_key_prefixes_are_the_ones_the_code_writes(self):
        # A prefix the code renamed would make every call of the narrowed actions AccessDenied in AWS only.
        prefixes = {p.rstrip("*") for g in EXPECTED_LEADING_KEYS.values() for pats in g.values() for p in pats}
        for prefix in sorted(prefixes):
            self.assertIn(f'"{prefix}', self.code, f"{prefix} is a key prefix in the code")

    def test_granted_dynamodb_and_secrets_actions_are_the_ones_the_code_calls(self):
        calls = {
            "get_item": "GetItem", "put_item": "PutItem", "update_item": "UpdateItem",
            "delete_item": "DeleteItem", "query": "Query", "scan": "Scan", "batch_write_item": "BatchWriteItem",
            "batch_get_item": "BatchGetItem", "transact_get_items": "GetItem",
        }
        used = {"dynamodb:" + op for call, op in calls.items() if re.search(rf"\.{call}\(\)", self.code)}
        if ".transact_write_items()" in self.code:
            parts = {"put": "PutItem", "update": "UpdateItem", "delete": "DeleteItem", "condition_check": "ConditionCheckItem"}
            used |= {"dynamodb:" + op for part, op in parts.items()
                     if re.search(rf"TransactWriteItem::builder\(\)\s*\.{part}\(", self.code)}
        granted = {a for g in EXPECTED.values() for a, _ in g if a.startswith("dynamodb:") and a not in STREAM_READ}
        self.assertEqual(granted, used, "grant exactly the DynamoDB actions the code calls")
        self.assertNotIn("dynamodb:Scan", granted)
        sm = set(re.findall(r"\.(\w+)\(\)\s*\.secret_id", self.code))
        self.assertEqual(sm, {"get_secret_value"}, "the only Secrets Manager call is GetSecretValue")

    def test_log_permissions_name_each_functions_own_log_group(self):
        for name, binary in FUNCTIONS.items():
            with self.subTest(name):
                self.assertEqual(self.fn(name)["FunctionName"], {"Fn::Sub": "${AWS::StackName}-" + binary})
                groups = [v for v in self.res.values() if v["Type"] == "AWS::Logs::LogGroup"
                          and v["Properties"].get("LogGroupName") == {"Fn::Sub": f"/aws/lambda/${{{name}}}"}]
                self.assertEqual(len(groups), 1, f"{name} needs its log group with a retention")
                self.assertIn("RetentionInDays", groups[0]["Properties"])

    def test_no_wildcard_action_or_resource_after_the_sam_transform(self):
        roles = {k: v for k, v in self.out["Resources"].items() if v["Type"] == "AWS::IAM::Role"}
        self.assertTrue({"LinkTokenRole", "WebhookRole", "ReconcileRole", "NotifyRole", "MerchantEndpointRole"} <= set(roles))
        policies = [k for k, v in self.out["Resources"].items()
                    if v["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy")]
        self.assertEqual(policies, [], "all grants are inline in the roles checked here")
        for rname, role in roles.items():
            self.assertNotIn("ManagedPolicyArns", role["Properties"], rname)
            for cond, st in role_statements(role):
                with self.subTest(role=rname, sid=st.get("Sid")):
                    actions = as_list(st["Action"])
                    for action in actions:
                        self.assertNotIn("*", action, f"wildcard action {action}")
                        self.assertNotEqual(action, "dynamodb:Scan")
                        if action.startswith("secretsmanager:"):
                            self.assertEqual((action, st["Resource"]), ("secretsmanager:GetSecretValue", SECRET))
                    for resource in as_list(st["Resource"]):
                        text = resource if isinstance(resource, str) else json.dumps(resource)
                        if resource == "*":
                            self.assertTrue(set(actions) <= XRAY_WRITE, f"'*' resource for {actions}")
                        elif "*" in text:
                            # The only other '*' allowed: a log group ARN's ':*' (its own streams).
                            self.assertRegex(text, r"log-group:/aws/lambda/\$\{AWS::StackName\}-[a-z-]+:\*\"")

    def test_only_the_webhook_is_public_through_its_function_url(self):
        urls = {k: v for k, v in self.out["Resources"].items() if v["Type"] == "AWS::Lambda::Url"}
        self.assertEqual(list(urls.values()), [{"Type": "AWS::Lambda::Url", "Properties": {
            "TargetFunctionArn": {"Ref": "WebhookFunction"}, "AuthType": "NONE", "InvokeMode": "BUFFERED"}}])
        self.assertEqual(self.fn("WebhookFunction")["FunctionUrlConfig"]["AuthType"], "NONE")
        public = {}
        for k, v in self.out["Resources"].items():
            p = v["Properties"] if v["Type"] == "AWS::Lambda::Permission" else None
            if p and p["Principal"] == "*":
                public[k] = p
                self.assertEqual(p["FunctionName"], {"Ref": "WebhookFunction"}, k)
                self.assertTrue(p.get("FunctionUrlAuthType") == "NONE" or p.get("InvokedViaFunctionUrl") is True, k)
        self.assertEqual({p["Action"] for p in public.values()}, {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"})
        # Compensating control: the webhook's concurrency is capped unless the operator opts out.
        reserved = self.fn("WebhookFunction")["ReservedConcurrentExecutions"]
        self.assertEqual(reserved, {"Fn::If": ["ReserveWebhook", {"Ref": "WebhookReservedConcurrency"},
                                               {"Ref": "AWS::NoValue"}]})
        self.assertGreater(self.t["Parameters"]["WebhookReservedConcurrency"]["Default"], 0)

    # ------------------------------------------------------------ the API

    # The merchant's server calls these (SigV4-signed, IAM authorization); shoppers call the rest (JWT).
    MERCHANT_ROUTES = {("post", "/checkouts"), ("get", "/checkouts"), ("get", "/checkouts/{checkoutId}"),
                       ("post", "/checkouts/{checkoutId}/cancel")}

    def test_an_authorizer_on_every_route_iam_for_the_merchant_jwt_for_shoppers(self):
        apis = {k for k, v in self.res.items() if v["Type"] in ("AWS::Serverless::HttpApi", "AWS::Serverless::Api")}
        self.assertEqual(apis, {"HttpApi"})
        for k, v in self.res.items():
            self.assertFalse(v["Type"].startswith("AWS::ApiGateway"), f"{k}: routes only through HttpApi events")
        auth = self.fn("HttpApi")["Auth"]
        self.assertEqual(auth["DefaultAuthorizer"], "JwtAuthorizer")
        self.assertIs(auth["EnableIamAuthorizer"], True)
        jwt = auth["Authorizers"]["JwtAuthorizer"]
        self.assertEqual(jwt["JwtConfiguration"], {"issuer": {"Ref": "JwtIssuer"}, "audience": {"Ref": "JwtAudience"}})
        self.assertEqual(jwt["IdentitySource"], "$request.header.Authorization")
        routes = set()
        for name, fn in ((n, v) for n, v in self.res.items() if v["Type"] == "AWS::Serverless::Function"):
            for ev_name, ev in fn["Properties"].get("Events", {}).items():
                if ev["Type"] in ("HttpApi", "Api"):
                    with self.subTest(event=f"{name}.{ev_name}"):
                        self.assertEqual(ev["Type"], "HttpApi")
                        self.assertEqual(name, "LinkTokenFunction")
                        self.assertEqual(ev["Properties"].get("ApiId"), {"Ref": "HttpApi"}, "no implicit API")
                        route = (ev["Properties"]["Method"].lower(), ev["Properties"]["Path"])
                        expected = "AWS_IAM" if route in self.MERCHANT_ROUTES else "JwtAuthorizer"
                        self.assertEqual(ev["Properties"]["Auth"], {"Authorizer": expected})
                        routes.add(route)
        self.assertTrue(self.MERCHANT_ROUTES <= routes, "every checkout route is deployed")
        # After the transform: every operation of the deployed API carries the JWT authorizer.
        body = self.out["Resources"]["HttpApi"]["Properties"]["Body"]
        schemes = body["components"]["securitySchemes"]
        self.assertEqual(schemes["JwtAuthorizer"]["x-amazon-apigateway-authorizer"]["type"], "jwt")
        self.assertEqual(schemes["AWS_IAM"]["x-amazon-apigateway-authtype"], "awsSigv4")
        deployed = set()
        for path, ops in body["paths"].items():
            for method, op in ops.items():
                deployed.add((method, path))
                with self.subTest(route=f"{method} {path}"):
                    self.assertNotIn(method, ("x-amazon-apigateway-any-method", "any"))
                    expected = "AWS_IAM" if (method, path) in self.MERCHANT_ROUTES else "JwtAuthorizer"
                    self.assertEqual([list(s) for s in op["security"]], [[expected]])
        self.assertEqual(deployed, routes)
        openapi = json.loads((ROOT / "functions/link-token/openapi.json").read_text())
        documented = {(m, p) for p, ops in openapi["paths"].items() for m in ops if m in ("get", "post", "put", "patch", "delete")}
        self.assertEqual(routes, documented, "the API's routes are the ones functions/link-token/openapi.json describes")
        # The document says the same: the merchant's SigV4 scheme on the checkout routes, the JWT elsewhere.
        for path, ops in openapi["paths"].items():
            for method, op in ops.items():
                with self.subTest(documented=f"{method} {path}"):
                    scheme = "merchantIam" if (method, path) in self.MERCHANT_ROUTES else "jwt"
                    self.assertEqual(op.get("security", openapi["security"]), [{scheme: []}])
        self.assertEqual(openapi["components"]["securitySchemes"]["merchantIam"]["x-amazon-apigateway-authtype"], "awsSigv4")

    def test_cors_and_throttling(self):
        api = self.fn("HttpApi")
        self.assertEqual(api["CorsConfiguration"]["AllowOrigins"], {"Ref": "AllowedOrigins"})
        self.assertNotIn("Default", self.t["Parameters"]["AllowedOrigins"], "origins are the operator's choice")
        self.assertNotIn("*", json.dumps(api["CorsConfiguration"]))
        route = api["DefaultRouteSettings"]
        self.assertEqual((route["ThrottlingRateLimit"], route["ThrottlingBurstLimit"]),
                         ({"Ref": "ApiRateLimit"}, {"Ref": "ApiBurstLimit"}))

    # ------------------------------------------------------------ failures of the schedule

    def test_reconcile_schedule_retries_and_captures_failures(self):
        fn = self.fn("ReconcileFunction")
        events = fn["Events"]
        self.assertEqual([e["Type"] for e in events.values()], ["ScheduleV2"])
        sched = next(iter(events.values()))["Properties"]
        self.assertEqual(sched["ScheduleExpression"], {"Ref": "ReconcileSchedule"})
        # ScheduleV2 delivers Input as-is: exactly the event file the handler is tested with.
        self.assertEqual(json.loads(sched["Input"]), json.loads((ROOT / "events/aws/reconcile-schedule.json").read_text()))
        retry = sched["RetryPolicy"]
        self.assertGreaterEqual(retry["MaximumRetryAttempts"], 1)
        dlq = sched["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        self.assertEqual(self.res[dlq]["Type"], "AWS::SQS::Queue")
        invoke = fn["EventInvokeConfig"]
        dest = invoke["DestinationConfig"]["OnFailure"]
        self.assertEqual(dest["Type"], "SQS")
        self.assertEqual(self.res[dest["Destination"]["Fn::GetAtt"][0]]["Type"], "AWS::SQS::Queue")
        self.assertNotEqual(dest["Destination"]["Fn::GetAtt"][0], dlq)
        # Shortest allowed period: 5 minutes (the AllowedPattern). A late event is worth nothing once
        # the next run is due, and a run must end before the next one starts.
        pattern = re.compile(self.t["Parameters"]["ReconcileSchedule"]["AllowedPattern"])
        for ok in ("rate(5 minutes)", "rate(1 hour)", "rate(2 hours)", "rate(1 day)",
                   self.t["Parameters"]["ReconcileSchedule"]["Default"]):
            self.assertRegex(ok, pattern)
        for bad in ("rate(4 minutes)", "rate(1 minute)", "rate(1 hours)", "cron(0 * * * ? *)", "rate(0 minutes)"):
            self.assertNotRegex(bad, pattern)
        self.assertLessEqual(retry["MaximumEventAgeInSeconds"], 300)
        self.assertLessEqual(invoke["MaximumEventAgeInSeconds"], 300)
        self.assertLess(fn["Timeout"], 300)
        # After the transform: the schedule target really has both, and the scheduler may use its DLQ.
        schedules = [v for v in self.out["Resources"].values() if v["Type"] == "AWS::Scheduler::Schedule"]
        self.assertEqual(len(schedules), 1)
        target = schedules[0]["Properties"]["Target"]
        self.assertEqual((target["DeadLetterConfig"]["Arn"], target["RetryPolicy"]), ({"Fn::GetAtt": [dlq, "Arn"]}, retry))
        configs = [v for v in self.out["Resources"].values() if v["Type"] == "AWS::Lambda::EventInvokeConfig"]
        self.assertEqual([c["Properties"]["FunctionName"] for c in configs], [{"Ref": "ReconcileFunction"}])
        self.assertIn("OnFailure", configs[0]["Properties"]["DestinationConfig"])

    # ------------------------------------------------------------ the table

    APPLIED_BY_BOOTSTRAP = {"BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes",
                            "TimeToLiveSpecification", "StreamSpecification"}
    DEPLOY_ONLY = {"PointInTimeRecoverySpecification", "SSESpecification"}  # no effect on behaviour

    def test_table_declaration(self):
        table = self.res["TransfersTable"]
        props = bootstrap.table_properties(TEMPLATE)
        self.assertEqual(props, table["Properties"])
        self.assertEqual((table["DeletionPolicy"], table["UpdateReplacePolicy"]), ("Retain", "Retain"))
        unknown = set(props) - self.APPLIED_BY_BOOTSTRAP - self.DEPLOY_ONLY
        self.assertEqual(unknown, set(), "a table property dev/bootstrap.py does not apply: teach it first")
        self.assertNotIn("Fn::", json.dumps(props), "the local copy cannot resolve intrinsics")
        self.assertNotIn("Ref", json.dumps(props))
        self.assertEqual(props["BillingMode"], "PAY_PER_REQUEST")
        self.assertTrue(props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"])
        self.assertEqual(props["TimeToLiveSpecification"], {"AttributeName": "expires_at", "Enabled": True})
        self.assertEqual(props["KeySchema"], [{"AttributeName": "pk", "KeyType": "HASH"}])
        gsis = {g["IndexName"]: g for g in props["GlobalSecondaryIndexes"]}
        self.assertEqual(set(gsis), {"by-user", "open-transfers", "open-checkouts"})
        for name, hash_key, range_key in (("by-user", "user_id", "created_at"),
                                          ("open-transfers", "open_shard", "created_at"),
                                          ("open-checkouts", "checkout_shard", "expires_at_ms")):
            self.assertEqual(set(gsis[name]), {"IndexName", "KeySchema", "Projection"})
            self.assertEqual(gsis[name]["KeySchema"], [{"AttributeName": hash_key, "KeyType": "HASH"},
                                                       {"AttributeName": range_key, "KeyType": "RANGE"}])
            self.assertEqual(gsis[name]["Projection"], {"ProjectionType": "ALL"})

    def test_table_is_what_the_local_bootstrap_creates(self):
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            endpoint = f"http://127.0.0.1:{port}"
            name = f"transfers-{uuid.uuid4().hex[:8]}"
            with contextlib.redirect_stdout(io.StringIO()):
                bootstrap.create_table(endpoint, name, TEMPLATE)  # exactly what `make dev` and cargo tests run
            ddb = bootstrap.client("dynamodb", endpoint)
            live = ddb.describe_table(TableName=name)["Table"]
            ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        finally:
            server.stop()
        props = self.res["TransfersTable"]["Properties"]
        self.assertEqual(live["KeySchema"], props["KeySchema"])
        self.assertCountEqual(live["AttributeDefinitions"], props["AttributeDefinitions"])
        self.assertEqual(live["BillingModeSummary"]["BillingMode"], props["BillingMode"])
        self.assertEqual(
            {g["IndexName"]: (g["KeySchema"], g["Projection"]) for g in live["GlobalSecondaryIndexes"]},
            {g["IndexName"]: (g["KeySchema"], g["Projection"]) for g in props["GlobalSecondaryIndexes"]},
        )
        self.assertFalse(live.get("LocalSecondaryIndexes"))
        self.assertEqual((ttl["TimeToLiveStatus"], ttl["AttributeName"]),
                         ("ENABLED", props["TimeToLiveSpecification"]["AttributeName"]))
        self.assertEqual(live["StreamSpecification"], {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        self.assertTrue(live["LatestStreamArn"])

    # ------------------------------------------------------------ settlement events

    def stream_event(self):
        (event,) = self.fn("NotifyFunction")["Events"].values()
        self.assertEqual(event["Type"], "DynamoDB")
        return event["Properties"]

    def test_notify_reads_the_table_stream_with_failures_captured(self):
        table = self.res["TransfersTable"]["Properties"]
        self.assertEqual(table["StreamSpecification"], {"StreamViewType": "NEW_AND_OLD_IMAGES"}, "both images: events are derived from them")
        ev = self.stream_event()
        self.assertEqual(ev["Stream"], STREAM)
        self.assertEqual(ev["StartingPosition"], "TRIM_HORIZON")
        self.assertEqual(ev["FunctionResponseTypes"], ["ReportBatchItemFailures"])
        self.assertIs(ev["BisectBatchOnFunctionError"], True)
        self.assertTrue(1 <= ev["BatchSize"] <= 100)
        self.assertGreaterEqual(ev["MaximumRetryAttempts"], 1)
        # The stream keeps records 24 hours: give up (and say so) well before they are gone.
        self.assertTrue(60 <= ev["MaximumRecordAgeInSeconds"] <= 43200)
        dest = ev["DestinationConfig"]["OnFailure"]
        self.assertEqual((dest["Type"], dest["Destination"]), ("SQS", NOTIFY_FAILURE_QUEUE))
        self.assertTrue(self.res["NotifyFailureQueue"]["Properties"]["SqsManagedSseEnabled"])
        self.assertEqual(self.fn("NotifyFunction")["Environment"]["Variables"]["EVENT_BUS_NAME"], BUS)
        # After the transform: the mapping CloudFormation creates carries all of it.
        (mapping,) = [v["Properties"] for v in self.out["Resources"].values() if v["Type"] == "AWS::Lambda::EventSourceMapping"]
        self.assertEqual(mapping["FunctionName"], {"Ref": "NotifyFunction"})
        for prop in ("FilterCriteria", "FunctionResponseTypes", "BisectBatchOnFunctionError", "MaximumRetryAttempts",
                     "MaximumRecordAgeInSeconds", "BatchSize"):
            self.assertEqual(mapping[prop], ev[prop], prop)
        self.assertEqual(mapping["DestinationConfig"]["OnFailure"]["Destination"], NOTIFY_FAILURE_QUEUE)

    def test_the_filters_let_through_exactly_the_records_that_can_raise_an_event(self):
        import stream_poller  # the local mapping applies these very patterns

        filters = [json.loads(f["Pattern"]) for f in self.stream_event()["FilterCriteria"]["Filters"]]

        def record(name, new, old=None):
            img = lambda d: {k: {"S": v} for k, v in d.items()}
            r = {"eventName": name, "dynamodb": {"NewImage": img(new)}}
            if old is not None:
                r["dynamodb"]["OldImage"] = img(old)
            return r

        passes = [
            record("MODIFY", {"pk": "CHECKOUT#chk_1", "status": "paid"}, {"pk": "CHECKOUT#chk_1", "status": "processing"}),
            record("INSERT", {"pk": "CHECKOUT#chk_1", "status": "open"}),
            record("MODIFY", {"pk": "TRANSFER#t", "status": "succeeded"}, {"pk": "TRANSFER#t", "status": "pending"}),
            record("MODIFY", {"pk": "TRANSFER#t", "status": "failed"}, {"pk": "TRANSFER#t", "status": "created"}),
            record("INSERT", {"pk": "TRANSFER#t", "status": "succeeded"}),
        ]
        blocked = [
            record("MODIFY", {"pk": "TRANSFER#t", "status": "succeeded", "checkout_id": "chk_1"}, {"pk": "TRANSFER#t", "status": "pending"}),
            record("MODIFY", {"pk": "TRANSFER#t", "status": "pending"}, {"pk": "TRANSFER#t", "status": "created"}),
            record("MODIFY", {"pk": "TRANSFER#t", "status": "succeeded"}, {"pk": "TRANSFER#t", "status": "succeeded"}),
            record("INSERT", {"pk": "EVENT#e"}),
            record("INSERT", {"pk": "ORDER#o"}),
            record("INSERT", {"pk": "IDEMPOTENCY#k"}),
            {"eventName": "REMOVE", "dynamodb": {"OldImage": {"pk": {"S": "CHECKOUT#chk_1"}}}},
        ]
        for r in passes:
            self.assertTrue(stream_poller.accepted(r, filters), r)
        for r in blocked:
            self.assertFalse(stream_poller.accepted(r, filters), r)
        self.assertLessEqual(len(filters), 5, "Lambda accepts at most 5 filters")

    def test_bus_archive_and_optional_subscriptions(self):
        self.assertEqual(self.res["PaymentsEventBus"]["Type"], "AWS::Events::EventBus")
        archive = self.res["PaymentsEventArchive"]["Properties"]
        self.assertEqual(archive["SourceArn"], BUS)
        self.assertEqual(archive["EventPattern"], {"source": ["mesh-backend.payments"]})
        self.assertIn('"mesh-backend.payments"', self.code, "the source the rules match is the one the code sends")
        paid = self.res["PaidEventsRule"]
        self.assertEqual(paid["Condition"], "HasPaidEventsQueue")
        self.assertEqual(paid["Properties"]["EventPattern"], {"source": ["mesh-backend.payments"], "detail-type": ["checkout.paid"]})
        endpoint = self.res["MerchantEndpointRule"]
        self.assertEqual(endpoint["Condition"], "HasMerchantEndpoint")
        (target,) = endpoint["Properties"]["Targets"]
        self.assertEqual(target["Arn"], {"Fn::GetAtt": ["MerchantApiDestination", "Arn"]})
        for rule in (paid, endpoint):
            (t,) = rule["Properties"]["Targets"]
            self.assertEqual(t["DeadLetterConfig"]["Arn"], {"Fn::GetAtt": ["SubscriptionDLQ", "Arn"]})
        conn = self.res["MerchantConnection"]["Properties"]
        self.assertEqual(conn["AuthorizationType"], "API_KEY")
        self.assertEqual(conn["AuthParameters"]["ApiKeyAuthParameters"]["ApiKeyValue"], {"Ref": "MerchantApiKey"})
        self.assertIs(self.t["Parameters"]["MerchantApiKey"]["NoEcho"], True)
        role = self.res["MerchantEndpointRole"]
        self.assertEqual({(a, key(r)) for _, st in role_statements(role) for a in as_list(st["Action"]) for r in as_list(st["Resource"])},
                         {("events:InvokeApiDestination", key({"Fn::GetAtt": ["MerchantApiDestination", "Arn"]}))})
        for queue in ("NotifyFailureQueue", "PaidEventsQueueResource", "SubscriptionDLQ"):
            self.assertTrue(self.res[queue]["Properties"]["SqsManagedSseEnabled"], queue)

    def test_every_event_type_has_a_schema(self):
        source = (ROOT / "shared/src/domain/settlement_event.rs").read_text()
        types = set(re.findall(r'=> "((?:checkout|deposit)\.[a-z_]+)"', source))
        self.assertEqual(len(types), 9, types)
        schemas = {p.name.removesuffix(".schema.json") for p in (ROOT / "docs/events").glob("*.schema.json")}
        self.assertEqual(schemas, types)
        import jsonschema
        for t in sorted(types):
            with self.subTest(t):
                schema = json.loads((ROOT / f"docs/events/{t}.schema.json").read_text())
                jsonschema.Draft202012Validator.check_schema(schema)
                self.assertEqual(schema["properties"]["type"], {"const": t})
                self.assertIn("eventId", schema["required"])

    # ------------------------------------------------------------ observability and outputs

    def alarms(self):
        return {k: v["Properties"] for k, v in self.res.items() if v["Type"] == "AWS::CloudWatch::Alarm"}

    @staticmethod
    def alarm_metrics(alarm):
        """(namespace, metric name, dimensions) of each metric an alarm reads."""
        if "MetricName" in alarm:
            yield alarm["Namespace"], alarm["MetricName"], {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
        for m in alarm.get("Metrics", []):
            if "MetricStat" in m:
                metric = m["MetricStat"]["Metric"]
                yield metric["Namespace"], metric["MetricName"], {d["Name"]: d["Value"] for d in metric["Dimensions"]}

    def test_alarms_cover_the_failure_modes(self):
        alarms = self.alarms()
        seen = {(ns, name, json.dumps(dims, sort_keys=True)) for a in alarms.values() for ns, name, dims in self.alarm_metrics(a)}
        for fn in FUNCTIONS:
            for metric in ("Errors", "Throttles"):
                self.assertIn(("AWS/Lambda", metric, json.dumps({"FunctionName": {"Ref": fn}})), seen, f"{fn} {metric}")
        for reason in ("signature_missing", "signature_malformed", "signature_mismatch"):
            self.assertIn(("MeshBackend", "WebhookRejected", json.dumps({"Function": "webhook", "Reason": reason}, sort_keys=True)), seen)
        self.assertIn(("MeshBackend", "ReconcileRepaired", json.dumps({"Function": "reconcile"})), seen)
        # What asks a human to look: conflicts, mismatches, parked bodies, transfers beyond the horizon.
        for fn, metric, dims in (("webhook", "WebhookEvents", {"Outcome": "conflict"}), ("reconcile", "ReconcileConflicts", {}),
                                 ("webhook", "AmountOrDestinationMismatches", {}), ("reconcile", "ReconcileAmountMismatches", {}),
                                 ("reconcile", "ReconcileOtherMismatches", {}), ("webhook", "WebhookEvents", {"Outcome": "parked"}),
                                 ("reconcile", "ReconcileBeyondHorizon", {}), ("reconcile", "ReconcileListingContradicted", {})):
            self.assertIn(("MeshBackend", metric, json.dumps({"Function": fn, **dims}, sort_keys=True)), seen, (metric, dims))
        # Checkouts: underpaid, overpaid, late and the review flags, wherever the ingest path settles them.
        for fn in ("webhook", "reconcile"):
            for dims in ({"Status": "underpaid"}, {"Status": "overpaid"}):
                self.assertIn(("MeshBackend", "CheckoutsSettled", json.dumps({"Function": fn, **dims}, sort_keys=True)), seen, dims)
            for flag in ("late", "wrong_destination", "other_user", "double_payment", "conflict"):
                self.assertIn(("MeshBackend", "CheckoutsFlagged", json.dumps({"Function": fn, "Flag": flag}, sort_keys=True)), seen, flag)
        self.assertIn(("MeshBackend", "EventsPutFailedEntries", json.dumps({"Function": "notify"})), seen)
        self.assertIn(("AWS/Lambda", "IteratorAge", json.dumps({"FunctionName": {"Ref": "NotifyFunction"}})), seen)
        for queue in ("ReconcileScheduleDLQ", "ReconcileFailureQueue", "NotifyFailureQueue", "SubscriptionDLQ"):
            self.assertIn(("AWS/SQS", "ApproximateNumberOfMessagesVisible",
                           json.dumps({"QueueName": {"Fn::GetAtt": [queue, "QueueName"]}})), seen, queue)
        for name, alarm in alarms.items():
            with self.subTest(name):
                self.assertEqual(alarm["AlarmActions"], [{"Ref": "AlarmTopic"}])
                self.assertEqual(alarm["TreatMissingData"], "notBreaching")

    def test_business_metrics_named_in_alarms_and_dashboard_exist_in_the_code(self):
        self.assertTrue('NAMESPACE: &str = "MeshBackend"' in self.code, "EMF namespace")
        self.assertTrue('with_dimension("Function", function)' in self.code, "EMF dimension Function")
        for binary in FUNCTIONS.values():
            self.assertTrue(f'shared::runtime::metrics::init("{binary}")' in self.code, f"Function={binary}")
        names = {name for a in self.alarms().values() for ns, name, _ in self.alarm_metrics(a) if ns == "MeshBackend"}
        values = {v for a in self.alarms().values() for ns, _, dims in self.alarm_metrics(a) if ns == "MeshBackend"
                  for k, v in dims.items() if k in ("Reason", "Outcome")}
        board = self.res["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
        body = json.loads(re.sub(r"\$\{[^}]+\}", "x", board))  # valid JSON once substituted
        self.assertTrue(body["widgets"])
        names |= set(re.findall(r'\["MeshBackend", "(\w+)"', board))
        names |= set(re.findall(r'MetricName=\\"(\w+)\\"', board))
        self.assertTrue({"LinkTokensMinted", "WebhookEvents", "WebhookRejected", "ReconcileRepaired"} <= names)
        for name in sorted(names):
            self.assertTrue(f'"{name}"' in self.code, f"metric {name} is emitted nowhere")
        for value in sorted(values):
            self.assertTrue(f'"{value}"' in self.code, f"dimension value {value} is emitted nowhere")

    def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(self):
        topic = self.res["AlarmTopic"]["Properties"]
        self.assertEqual(topic["KmsMasterKeyId"], {"Fn::GetAtt": ["AlarmTopicKey", "Arn"]})
        key_props = self.res["AlarmTopicKey"]["Properties"]
        self.assertTrue(key_props["EnableKeyRotation"])
        cw = [s for s in key_props["KeyPolicy"]["Statement"] if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
        self.assertEqual(len(cw), 1, "CloudWatch alarms can publish only if the key lets them")
        self.assertEqual(set(cw[0]["Action"]), {"kms:Decrypt", "kms:GenerateDataKey*"})

    def test_outputs(self):
        outputs = self.t["Outputs"]
        self.assertEqual(outputs["WebhookUrl"]["Value"], {"Fn::GetAtt": ["WebhookFunctionUrl", "FunctionUrl"]})
        self.assertIn("${HttpApi}", outputs["ApiUrl"]["Value"]["Fn::Sub"])
        # What a merchant's role needs to call the checkout routes, and nothing wider (the /checkouts paths
        # of this API's default stage, any method).
        self.assertEqual(outputs["CheckoutsInvokeArn"]["Value"], {"Fn::Sub": (
            "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/$default/*/checkouts*")})
        self.assertTrue(all(path.startswith("/checkouts") for _, path in self.MERCHANT_ROUTES))
        self.assertEqual(outputs["TransfersTableName"]["Value"], {"Ref": "TransfersTable"})
        self.assertEqual(outputs["MeshSecretArn"]["Value"], SECRET)
        self.assertEqual(self.t["Globals"]["Function"]["Environment"]["Variables"]["MESH_SECRET_ID"], SECRET)


if __name__ == "__main__":
    unittest.main()
