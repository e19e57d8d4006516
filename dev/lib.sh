# Shared by dev/setup.sh, dev/test.sh and dev/dev.sh. Sourced, not run.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.dev/venv"
export PATH="$VENV/bin:$HOME/.cargo/bin:$PATH"
# Local AWS is moto: dummy credentials, a fixed region, no instance metadata lookups, no telemetry.
export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
export AWS_EC2_METADATA_DISABLED=true SAM_CLI_TELEMETRY=0

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# wait_port PORT SECONDS NAME: until something listens on 127.0.0.1:PORT.
wait_port() {
  local port=$1 secs=$2 name=$3 i
  for ((i = 0; i < secs * 10; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$name did not start listening on 127.0.0.1:$port within ${secs}s" >&2
  return 1
}
