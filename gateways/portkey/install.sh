#!/usr/bin/env bash
# Portkey AI gateway (npm @portkey-ai/gateway, Node start-server) into $GATEBENCH_CACHE, plus one
# small patch to its build so streamed responses work under Node (see below).
set -euo pipefail
VERSION="1.15.2"
CACHE="${GATEBENCH_CACHE:?GATEBENCH_CACHE not set}"
PKG="$CACHE/node_modules/@portkey-ai/gateway"
SERVER="$PKG/build/start-server.js"
command -v node >/dev/null 2>&1 || { echo "portkey: node not found (needs Node >= 18: apt-get install nodejs npm)" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "portkey: npm not found (apt-get install npm)" >&2; exit 1; }
mkdir -p "$CACHE"
installed="$(node -p "require('$PKG/package.json').version" 2>/dev/null || true)"
if [ "$installed" != "$VERSION" ]; then
  ( cd "$CACHE"
    [ -f package.json ] || echo '{"name":"gatebench-portkey","private":true}' > package.json
    npm install --no-audit --no-fund --loglevel=error "@portkey-ai/gateway@$VERSION" >/dev/null ) \
    || { echo "portkey: npm install @portkey-ai/gateway@$VERSION failed" >&2; exit 1; }
fi
[ -f "$SERVER" ] || { echo "portkey: $SERVER missing after npm install" >&2; exit 1; }

# Patch (idempotent). In the bundled stream handler, Portkey builds the client response as
# `new Response(stream, upstreamResponse)`, passing the fetch() Response itself as ResponseInit.
# Under Node's undici the copied headers stay guarded "immutable", so Portkey's own
# `response.headers.append(...)` (x-portkey-trace-id, …) throws "TypeError: immutable" and every
# streamed request ends in HTTP 500 {"status":"failure","message":"Something went wrong"}.
# The fix builds the init explicitly: {status, statusText, headers: new Headers(upstream.headers)}.
# Non-streamed responses and the by-design 25 ms wait before the first chunk are left untouched.
node - "$SERVER" <<'JS' || { echo "portkey: patching start-server.js failed" >&2; exit 1; }
const fs = require("fs");
const file = process.argv[2];
const src = fs.readFileSync(file, "utf8");
const marker = "/*gatebench-stream-headers-patch*/";
if (src.includes(marker)) process.exit(0);
const from = "new Response(p,e)}const Ad=";
const to = marker + "new Response(p,{status:e.status,statusText:e.statusText,headers:new Headers(e.headers)})}const Ad=";
const n = src.split(from).length - 1;
if (n !== 1) { console.error(`portkey: patch anchor found ${n} times (expected 1); version changed?`); process.exit(1); }
fs.writeFileSync(file + ".tmp", src.replace(from, to));
fs.renameSync(file + ".tmp", file);
JS
