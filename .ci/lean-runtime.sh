#!/usr/bin/env bash
# The lean runtime, installed as a service would: `pip install 'policyc[serve]'` without the compiler's
# dependencies (lark, pyyaml, jinja2, jsonschema). It must load, verify and evaluate the committed bundle, sign
# and verify, build the service app, and say in Chinese what to install when asked to compile.
set -euo pipefail
cd "$(dirname "$0")/.."
lean="$(mktemp -d)"
trap 'rm -rf "$lean"' EXIT
python3 -m venv "$lean/venv"
"$lean/venv/bin/pip" install --quiet --disable-pip-version-check ".[serve]"
# -I: the checkout (the working directory) is not on the path, so this is the installed package
"$lean/venv/bin/python" -I - <<'PY'
import importlib.util, sys
for m in ("lark", "yaml", "jinja2", "jsonschema"):
    assert importlib.util.find_spec(m) is None, f"{m} is installed in the lean runtime"
import policyc
assert policyc.__file__.startswith(sys.prefix), f"policyc imported from {policyc.__file__}, not the lean venv"
from policyc.runtime import jsonio, load
ev = load("generated/shanxi.bundle.json")
decision = ev.evaluate(jsonio.loads(open("examples/household.json", encoding="utf-8").read()))
assert decision["programs"]["dibao"]["eligible"] in (True, False, None)
from policyc.serve.app import create_app  # noqa: F401
print("lean runtime: bundle loaded and evaluated; service importable without the compiler")
PY
policyc="$lean/venv/bin/policyc"
"$policyc" keygen "$lean/key" >/dev/null
cp generated/shanxi.bundle.json "$lean/bundle.json"
"$policyc" sign --key "$lean/key" "$lean/bundle.json" >/dev/null
"$policyc" verify --key "$lean/key.pub" "$lean/bundle.json"
"$policyc" eval --bundle "$lean/bundle.json" --verify-key "$lean/key.pub" examples/household.json >/dev/null
# the service, from the lean install: a signed bundle served and a decision answered over HTTP
"$policyc" serve --bundle "$lean/bundle.json" --verify-key "$lean/key.pub" --port 18765 \
  --decision-log "$lean/decisions.db" --log-level warning &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$lean"' EXIT
"$lean/venv/bin/python" -I - <<'PY'
import json, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen("http://127.0.0.1:18765/readyz", timeout=1)
        break
    except OSError:
        time.sleep(0.2)
body = open("examples/household.json", "rb").read()
answer = json.load(urllib.request.urlopen(urllib.request.Request(
    "http://127.0.0.1:18765/v1/decisions", data=body, method="POST"), timeout=10))
assert answer["decision_id"] and answer["programs"]["dibao"]["eligible"] in (True, False, None), answer
print("lean runtime: served a decision over HTTP", answer["decision_id"])
PY
"$policyc" log query --decision-log "$lean/decisions.db" | grep -q '"decision_id"'
set +e
"$policyc" check 2>"$lean/err"
code=$?
set -e
test "$code" = 2 && grep -q "policyc\[compiler\]" "$lean/err" || { cat "$lean/err"; echo "check without the compiler: expected a Chinese hint, exit 2"; exit 1; }
echo "lean runtime: OK"
