// The Node.js peer of `make bench`: what a merchant would otherwise deploy. At init it creates the same
// clients the Rust functions create (DynamoDB, Secrets Manager, Mesh), then polls the Lambda Runtime API
// as Lambda's Node.js runtime does: GET the next event, run the handler, POST its result, repeat.
// The handler only answers (like dev/bench-hello): the comparison is the cold start.
"use strict";
const http = require("node:http");
const { DynamoDBClient } = require("@aws-sdk/client-dynamodb");
const { SecretsManagerClient } = require("@aws-sdk/client-secrets-manager");
const { FrontApi } = require("@meshconnect/node-api");

const dynamodb = new DynamoDBClient({});
const secrets = new SecretsManagerClient({});
const mesh = new FrontApi({
  baseURL: process.env.MESH_API_BASE_URL || "https://integration-api.meshconnect.com",
  timeout: 8000,
});
const clients = [dynamodb, secrets, mesh];

const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const base = "/2018-06-01/runtime/invocation";

function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { "content-length": Buffer.byteLength(body) };
    const req = http.request({ host, port, method, path, agent, headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function handler(event, requestId) {
  return { hello: requestId, clients: clients.length };
}

(async () => {
  for (;;) {
    const next = await call("GET", `${base}/next`);
    const requestId = next.headers["lambda-runtime-aws-request-id"];
    const result = await handler(JSON.parse(next.body || "null"), requestId);
    await call("POST", `${base}/${requestId}/response`, JSON.stringify(result));
  }
})();
