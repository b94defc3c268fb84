#!/usr/bin/env bash
# The wheel, installed outside the repository: built from the repo's own files, installed with the compiler into a
# fresh venv, then every compiler command runs from a temporary directory holding only a copy of the policy set and
# the examples, so nothing can be read from the checkout (the source files' JSON Schemas, the DSL's grammar and the
# document templates must all come from the installed package).
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
step() { printf 'wheel: %s\n' "$*"; }
fail() { printf 'wheel: FAILED: %s\n' "$*" >&2; exit 1; }

# a clean copy of exactly what the wheel is built from: setuptools builds in-tree and would pick up a stale build/
mkdir "$work/src"
tar --exclude=__pycache__ --exclude='*.pyc' -cf - pyproject.toml README.md policyc | tar -xf - -C "$work/src"
[ -x .venv/bin/pip ] || fail "no .venv: install the repo first (see .ci/run)"
step "building the wheel"
.venv/bin/pip wheel --quiet --disable-pip-version-check --no-deps -w "$work/dist" "$work/src" >/dev/null
wheel="$(ls "$work"/dist/policyc-*.whl)"
# the non-Python files the compiler reads are in it
"$py" - "$wheel" <<'PY'
import sys, zipfile
from pathlib import Path
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
src = Path("policyc")
wanted = [*src.glob("schemas/*.schema.json"), src / "dsl/grammar.lark", *src.glob("emit/templates/*")]
missing = [str(p) for p in wanted if p.as_posix() not in names]
if missing or not any(p.parent.name == "schemas" for p in wanted):
    sys.exit(f"wheel: FAILED: not in the wheel: {', '.join(missing) or 'policyc/schemas/*.schema.json'}")
print(f"wheel: {Path(sys.argv[1]).name} holds the {len(wanted)} data files (schemas, grammar, templates)")
PY

step "installing it with [compiler] into a fresh venv"
"$py" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "$wheel[compiler]"
mkdir "$work/policies"
cp -r policies/shanxi "$work/policies/shanxi"  # the default --policy, relative to the cwd
cp -r examples "$work/examples"

# from here on: cwd is the temporary directory, no PYTHONPATH, no checkout on sys.path
cd "$work"
unset PYTHONPATH PYTHONHOME
policyc="$work/venv/bin/policyc"
where="$("$work/venv/bin/python" -c 'import policyc; print(policyc.__file__)')"
case "$where" in
  "$work/venv/"*) step "policyc imported from $where" ;;
  *) fail "policyc imported from $where, not from the wheel's venv" ;;
esac
run() {  # run a policyc command; on failure show its output and stop
  local name="$1"; shift
  if ! "$policyc" "$@" >"$work/out" 2>"$work/err"; then
    cat "$work/out" "$work/err" >&2
    fail "policyc $name"
  fi
  step "policyc $name: OK"
}
run check check
run build build --out "$work/gen"
test -s "$work/gen/shanxi.bundle.json" || fail "policyc build wrote no bundle"
run test test
run "eval" eval examples/household.json
cp "$work/out" "$work/decision.json"
run "eval --bundle" eval --bundle "$work/gen/shanxi.bundle.json" examples/household.json
cmp -s "$work/out" "$work/decision.json" || fail "eval from the sources and from the built bundle decide differently"
run coverage coverage
step "OK: the wheel runs check, build, test, eval and coverage outside the repository"
