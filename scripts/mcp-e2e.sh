#!/usr/bin/env bash
# interven-mcp against real MCP servers and real clients, no network beyond
# the package registries: @modelcontextprotocol/server-everything and
# @modelcontextprotocol/server-filesystem (npm install into a temp dir, never
# npx -y), the official Python SDK (PyPI `mcp`) in a venv for the client
# scenarios and the test server, and rmcp's client in a Rust test.
#
# Set MCP_E2E_CACHE to a directory to keep the npm packages and the venv
# between runs (they are installed there once); by default all goes in a
# temporary directory removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

EVERYTHING_VERSION=2026.8.31
FILESYSTEM_VERSION=2026.8.31
MCP_PY_VERSION=2.3.0

work=$(mktemp -d)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
cache=${MCP_E2E_CACHE:-$work}
mkdir -p "$cache"

if [ ! -f "$cache/npm/.installed-$EVERYTHING_VERSION-$FILESYSTEM_VERSION" ]; then
  mkdir -p "$cache/npm"
  npm install --prefix "$cache/npm" --silent --no-audit --no-fund --no-save \
    "@modelcontextprotocol/server-everything@$EVERYTHING_VERSION" \
    "@modelcontextprotocol/server-filesystem@$FILESYSTEM_VERSION"
  touch "$cache/npm/.installed-$EVERYTHING_VERSION-$FILESYSTEM_VERSION"
fi
if [ ! -x "$cache/venv/bin/python" ] || ! "$cache/venv/bin/python" -c "import mcp" 2>/dev/null; then
  python3 -m venv "$cache/venv"
  "$cache/venv/bin/pip" install --quiet --disable-pip-version-check "mcp==$MCP_PY_VERSION"
fi

cargo build --quiet --locked -p interven-mcp
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

export INTERVEN_MCP_BIN="$target_dir/debug/interven-mcp"
export MCP_EVERYTHING="$cache/npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
export MCP_FILESYSTEM="$cache/npm/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js"
export MCP_TEST_PYTHON="$cache/venv/bin/python"
export MCP_TEST_SERVER="$PWD/scripts/mcp_test_server.py"
# The embedded engine: no gateway key; pins in the temp dir, never the user's.
unset INTERVEN_API_KEY
export XDG_CONFIG_HOME="$work/config"

echo "-- the official Python SDK as the MCP client"
"$cache/venv/bin/python" scripts/mcp_e2e.py

echo "-- rmcp's client (interven-mcp/tests/proxy.rs)"
cargo test --quiet --locked -p interven-mcp --test proxy
