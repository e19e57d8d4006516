# The local stack, shared by `make dev` (dev/dev.sh) and the browser test (dev/demo/browser-test.sh).
# Sourced after dev/lib.sh, not run. The caller sets the ports (or takes the defaults) and STACK_LOGS,
# calls stack_start, and must call stack_stop on exit (trap): every process runs in its own process
# group, so stopping one also stops its children (cargo lambda watch's function processes).
#
#   moto          DynamoDB + Secrets Manager, table and secret bootstrapped
#   mesh-sandbox  Mesh's API and its signed webhooks, delivered to the webhook function
#   functions     the four functions under `cargo lambda watch` (AUTH_MODE=local)
#   stream-poller the table's change stream -> notify, as Lambda's event source mapping (dev/stream_poller.py);
#                 notify publishes to moto's EventBridge, whose rules deliver to SQS queues
#   demo shop     dev/demo: the shop page on the real Mesh Web Link SDK and its merchant backend (merchant.py)

# The functions' configuration is dev/local.env, the file a plain `cargo lambda watch` reads too (Cargo.toml
# [workspace.metadata.lambda.watch]). This shell gets it as well (the demo page's DESTINATIONS, the table and
# secret names, the default ports), with this stack's ports.
set -a
# shellcheck source=dev/local.env
source "$ROOT/dev/local.env"
set +a
MOTO_PORT=${MOTO_PORT:-${AWS_ENDPOINT_URL##*:}}
SANDBOX_PORT=${SANDBOX_PORT:-${MESH_API_BASE_URL##*:}}
LAMBDA_PORT=${LAMBDA_PORT:-9000}
DEMO_PORT=${DEMO_PORT:-8080}
STACK_LOGS=${STACK_LOGS:-$ROOT/.dev/logs}
STACK_WEBHOOK_SECRET=sandbox-webhook-secret
STACK_TABLE=$TRANSFERS_TABLE
STACK_SECRET=$MESH_SECRET_ID
STACK_DEFAULT_ENDPOINTS="$AWS_ENDPOINT_URL $MESH_API_BASE_URL"
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" MESH_API_BASE_URL="http://127.0.0.1:$SANDBOX_PORT"

STACK_GROUPS=()

# stack_spawn NAME CMD...: runs CMD in its own process group, output to $STACK_LOGS/NAME.log.
stack_spawn() {
  local name=$1; shift
  setsid "$@" > "$STACK_LOGS/$name.log" 2>&1 &
  STACK_GROUPS+=($!)
}

# Every port must be free: another `make dev` may be running.
stack_check_ports() {
  local port
  for port in "$MOTO_PORT" "$SANDBOX_PORT" "$LAMBDA_PORT" "$DEMO_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "port $port is already in use (another make dev?). Set MOTO_PORT / SANDBOX_PORT / LAMBDA_PORT / DEMO_PORT." >&2
      return 1
    fi
  done
}

# Starts everything; the workspace must be built (cargo build --workspace --bins).
stack_start() {
  mkdir -p "$STACK_LOGS"
  stack_check_ports

  step "moto on 127.0.0.1:$MOTO_PORT"
  stack_spawn moto moto_server -H 127.0.0.1 -p "$MOTO_PORT"
  wait_port "$MOTO_PORT" 30 moto_server
  python3 "$ROOT/dev/bootstrap.py" table --endpoint "http://127.0.0.1:$MOTO_PORT" --name "$STACK_TABLE"
  python3 "$ROOT/dev/bootstrap.py" secret --endpoint "http://127.0.0.1:$MOTO_PORT" --name "$STACK_SECRET" \
    --client-id sandbox-client-id --client-secret sandbox-client-secret --webhook-secret "$STACK_WEBHOOK_SECRET"
  # The transfer the events/local/ fixtures refer to (README "Invoking a function with an event").
  python3 "$ROOT/dev/bootstrap.py" fixture-transfer --endpoint "http://127.0.0.1:$MOTO_PORT" --name "$STACK_TABLE"
  # Settlement events: the bus, its subscription rules' queues and notify's on-failure queue (their URLs, JSON).
  STACK_EVENTS=$(python3 "$ROOT/dev/bootstrap.py" events --endpoint "http://127.0.0.1:$MOTO_PORT" --bus "$EVENT_BUS_NAME")
  export STACK_EVENTS

  step "Mesh sandbox on 127.0.0.1:$SANDBOX_PORT"
  # Debug builds on a busy machine can take longer than Mesh's default 200 ms to answer; a late answer
  # only means a retry (a duplicate for the webhook), but a roomier timeout keeps the logs quiet.
  stack_spawn mesh-sandbox "$ROOT/target/debug/mesh-sandbox" --port "$SANDBOX_PORT" \
    --webhook-url "http://127.0.0.1:$LAMBDA_PORT/lambda-url/webhook/" --webhook-secret "$STACK_WEBHOOK_SECRET" \
    --webhook-timeout-ms "${SANDBOX_WEBHOOK_TIMEOUT_MS:-2000}"
  wait_port "$SANDBOX_PORT" 30 mesh-sandbox

  step "functions under cargo lambda watch on 127.0.0.1:$LAMBDA_PORT"
  # cargo-lambda gives the env file named in Cargo.toml precedence over this shell's variables, and reads it
  # relative to its working directory. On make dev's default ports it runs from the repository (and rebuilds a
  # function when its source changes); on other ports, from a directory holding a copy of dev/local.env with
  # those ports.
  local watch_dir=$ROOT
  if [[ "$AWS_ENDPOINT_URL $MESH_API_BASE_URL" != "$STACK_DEFAULT_ENDPOINTS" ]]; then
    watch_dir="$STACK_LOGS/functions-env"
    mkdir -p "$watch_dir/dev"
    sed -e "s#^AWS_ENDPOINT_URL=.*#AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL#" \
      -e "s#^MESH_API_BASE_URL=.*#MESH_API_BASE_URL=$MESH_API_BASE_URL#" "$ROOT/dev/local.env" > "$watch_dir/dev/local.env"
    echo "(other ports than dev/local.env's: the functions are not rebuilt when their source changes)"
  fi
  cd "$watch_dir"
  stack_spawn functions cargo lambda watch --manifest-path "$ROOT/Cargo.toml" -A 127.0.0.1 -P "$LAMBDA_PORT"
  cd "$ROOT"
  wait_port "$LAMBDA_PORT" 120 "cargo lambda watch"
  # The first request to each function starts it (and compiles it if it is stale); do that now rather than
  # make the first payment's webhook wait. Neither request is an error: a user's (empty) transfer list,
  # and a GET to the webhook, which answers 405 without counting it as a rejected delivery.
  echo "starting the functions (first request to each)"
  stack_warm "link-token/transfers?limit=1" -H 'x-local-user: warm-up'
  stack_warm "webhook/"

  step "the table's change stream to notify (dev/stream_poller.py), notify to the event bus '$EVENT_BUS_NAME'"
  stack_spawn stream-poller python3 "$ROOT/dev/stream_poller.py" --endpoint "http://127.0.0.1:$MOTO_PORT" \
    --table "$STACK_TABLE" --invoke-url "http://127.0.0.1:$LAMBDA_PORT/2015-03-31/functions/notify/invocations" \
    --failure-queue "$(stack_event_queue failure_queue)"

  step "demo shop (page and merchant backend) on 127.0.0.1:$DEMO_PORT"
  stack_spawn demo-page python3 "$ROOT/dev/demo/serve.py" --port "$DEMO_PORT" \
    --api "http://127.0.0.1:$LAMBDA_PORT/lambda-url/link-token" --sandbox "http://127.0.0.1:$SANDBOX_PORT"
  wait_port "$DEMO_PORT" 30 "demo page server"
}

# stack_event_queue NAME: the URL of a settlement-event queue (paid-events, merchant-events, failure_queue).
stack_event_queue() {
  python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$STACK_EVENTS" "$1"
}

# stack_warm PATH CURL-ARGS...: one request to a function, until it answers anything but a 5xx (300 s).
stack_warm() {
  local path=$1 code i; shift
  for ((i = 0; i < 300; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 120 "$@" "http://127.0.0.1:$LAMBDA_PORT/lambda-url/$path" || true)
    if [[ $code =~ ^[1-4] ]]; then return 0; fi
    sleep 1
  done
  echo "function at /lambda-url/$path did not answer (last HTTP status $code); see $STACK_LOGS/functions.log" >&2
  return 1
}

stack_stop() {
  local g
  ((${#STACK_GROUPS[@]})) || return 0
  for g in "${STACK_GROUPS[@]}"; do kill -- "-$g" 2>/dev/null || true; done
  wait 2>/dev/null || true
  STACK_GROUPS=()
}
