#!/usr/bin/env bash
# Checks the live API against its own OpenAPI document with schemathesis (an independent tool):
# no request may crash the server or get a 5xx, and every response must match the document
# (status codes, content types, JSON schemas). Runs on the demo archive, private and public.
#
# `positive_data_acceptance` is left out on purpose: the API rejects values the schema cannot
# express (an unknown actor, a query with a syntax error), and those 400s are correct.
set -euo pipefail
cd "$(dirname "$0")/.."
TROVE=${TROVE:-target/debug/trove}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
"$TROVE" demo --no-serve --dir "$work/demo" >/dev/null
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance
for mode in private public; do
  flag=""
  [ "$mode" = public ] && flag="--public"
  "$TROVE" --archive "$work/demo" serve --bind 127.0.0.1:0 --json $flag >"$work/serve-$mode.out" 2>"$work/serve-$mode.err" &
  for _ in $(seq 100); do [ -s "$work/serve-$mode.out" ] && break; sleep 0.1; done
  url=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["listening"])' "$work/serve-$mode.out")
  echo "== schemathesis ($mode) against $url"
  st run "${url}api/openapi.json" --checks "$CHECKS" --max-examples "${ST_EXAMPLES:-40}" --seed 1 --no-color
  kill %1 && wait %1 || true
done
