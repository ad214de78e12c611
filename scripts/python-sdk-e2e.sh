#!/usr/bin/env bash
# The official Python SDK (PyPI `interven`) against our self-hosted gateway:
# any client of the protocol must work, not only ours.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "interven==0.6.1"
cargo build --quiet --locked -p interven-gateway
# Wherever cargo puts it (CARGO_TARGET_DIR, a config's target-dir, or ./target).
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/debug/interven-gateway"
agent=$("$bin" keys create --db "$work/gw.db" --name py-agent)
admin=$("$bin" keys create --db "$work/gw.db" --name py-admin --admin)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" serve --bind "127.0.0.1:$port" --db "$work/gw.db" 2>"$work/gateway.log" &
pid=$!

INTERVEN_GATEWAY_URL="http://127.0.0.1:$port" INTERVEN_API_KEY="$agent" INTERVEN_ADMIN_KEY="$admin" \
  "$work/venv/bin/python" scripts/python_sdk_e2e.py

# The shared policy cases (tests/policy/, see its README) through the Python
# SDK: one gateway per policy file, a fresh database each.
kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""
for cases in tests/policy/*.jsonl; do
  name=$(basename "$cases" .jsonl)
  policy="tests/policy/$name.toml"  # the examples are linked in
  db="$work/policy-$name.db"
  key=$("$bin" keys create --db "$db" --name py-policy)
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$bin" serve --bind "127.0.0.1:$port" --db "$db" --rate-limit 0 --policy "$policy" 2>"$work/gateway-$name.log" &
  pid=$!
  INTERVEN_GATEWAY_URL="http://127.0.0.1:$port" INTERVEN_API_KEY="$key" \
    "$work/venv/bin/python" scripts/python_policy_cases.py "$cases"
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""
done
