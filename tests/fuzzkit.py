"""The fuzz suite's inputs and oracles, shared by tests/test_fuzz.py (a bounded run in CI) and tools/fuzz.py (the long
run whose tally docs/fuzz.md records).

Each `case_*` function takes a `random.Random`, builds one hostile or odd input of its kind, runs it and returns the
outcome's name (a key of `Tally`): "decision", "input_error", … An outcome that breaks the contract raises
`Broken` with what was run, so a failure can be replayed: a traceback (any exception but the documented ones), a
hang (a watchdog), an undocumented exit code, a CLI that decides otherwise than the API, a build tree that mixes two
builds.
"""
from __future__ import annotations

import copy
import datetime as dt
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policies" / "shanxi"
EXAMPLE = ROOT / "examples" / "household.json"
EXIT_CODES = {0, 1, 2, 130}  # README: 0 ok; 1 policy errors or failed cases; 2 usage or input; 130 interrupted
ARGUMENT_PATHS = ("$", "programs", "locality", "date")  # a JSON path, or the API argument at fault
CJK = re.compile(r"[\u4e00-\u9fff]")


class Broken(AssertionError):
    """An input the suite found that breaks the contract; its message says how to replay it."""


class Hang(Exception):
    pass


@contextmanager
def watchdog(seconds: float):
    """Raise `Hang` in the main thread if the block runs longer than `seconds` (POSIX alarm)."""
    def fire(signum, frame):
        raise Hang(f"no answer after {seconds} s")
    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class Tally(Counter):
    def line(self) -> str:
        return "，".join(f"{k} {v}" for k, v in sorted(self.items()))


# ── hostile values ───────────────────────────────────────────────────────────────────────────────────────────────
NUMBERS = [0, 1, -1, 720, Decimal("0.005"), Decimal("-0"), Decimal("1e400"), Decimal("-1e400"), Decimal("1e-400"),
           Decimal("NaN"), Decimal("Infinity"), Decimal("sNaN"), 10 ** 18, 10 ** 40, 2 ** 63, -2 ** 63,
           Decimal("999999999999999999.99"), Decimal("1E+17"), 1.5, float("nan"), float("inf"), True, False]
DATES = ["9999-12-31", "9999-12-01", "9999-01-31", "0001-01-01", "0001-12-31", "1900-02-28", "2024-02-29",
         "2023-02-29", "2024-13-01", "2024-7-1", "20240701", "2024-07-01T00:00:00", "+02024-07-01", " 2024-07-01",
         "２０２４-０７-０１", "", dt.date(9999, 12, 31), dt.date(1, 1, 1), 20240701]
TEXTS = ["", " ", "\x00", "\ud800", "\u202e", "a" * 5000, "太原市", "140105", "140000", "999999", "../../etc/passwd",
         "{{7*7}}", "${jndi:x}", "'; DROP TABLE x; --", "urban", "rural", "applicant", "全自理", "null"]
LOCALITIES = ["140105", "太原市小店区", "140000", "山西省", "140702", "141000", "999999", "", "14", "1401050",
              "太原", None, 140105, ["140105"], {"code": "140105"}, "\u202e140105"]
PROGRAMS = [None, [], ["dibao"], ["dibao", "dibao"], ["tekun", "temporary"], ["nope"], ["dibao", "nope"], "dibao",
            [None], [1], ["emergency", "procedure", "special", "low_income"]]


def hostile_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9)
    if kind == 0:
        return rng.choice(NUMBERS)
    if kind == 1:
        return rng.choice(DATES)
    if kind == 2:
        return rng.choice(TEXTS)
    if kind == 3:
        return rng.choice([None, True, False])
    if kind == 4 and depth < 3:
        return [hostile_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 5 and depth < 3:
        return {rng.choice(TEXTS + ["id", "age", "members"]): hostile_value(rng, depth + 1) for _ in range(rng.randrange(4))}
    if kind == 6:
        nest = None
        for _ in range(rng.choice([10, 200, 400])):  # deeper than any request, within what copy.deepcopy manages
            nest = [nest]
        return nest
    if kind == 7:
        return Decimal(rng.randrange(-10 ** 6, 10 ** 7)) / rng.choice([1, 10, 100, 1000])
    return rng.randrange(-5, 200)


def plausible_value(old, rng: random.Random):
    """A value of the same JSON kind as `old`, often at an edge: what a real but unusual household could give."""
    if isinstance(old, bool) or old is None:
        return rng.choice([True, False, None])
    if isinstance(old, (int, Decimal)):
        return rng.choice([0, 1, -1, Decimal("0.01"), Decimal("0.005"), 59, 60, 16, 18, 100, 719, 720, 721,
                           Decimal("719.99"), Decimal("720.01"), 10 ** 6, rng.randrange(0, 20000),
                           Decimal(rng.randrange(0, 2_000_000)) / 100])
    if isinstance(old, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", old):
        return rng.choice(["2024-07-01", "2024-01-01", "2023-12-31", "2020-02-29", "2025-06-30", "1950-01-01",
                           "2100-12-31", "9999-12-31", "0001-01-01", old])
    if isinstance(old, list):
        return old[: rng.randrange(len(old) + 1)]
    return None


def _slots(node, path=()):
    """Every place in a JSON tree a value can be put (down to depth 12): (container, key, path)."""
    if len(path) > 12:
        return
    if isinstance(node, dict):
        for k in list(node):
            yield node, k, path + (k,)
            yield from _slots(node[k], path + (k,))
    elif isinstance(node, list):
        for i in range(len(node)):
            yield node, i, path + (i,)
            yield from _slots(node[i], path + (i,))


def mutate_request(req: dict, rng: random.Random) -> dict:
    """One to three of: replace a value, delete a key, add an unknown key, copy a member, empty a list, set a
    date or a locality at its edge."""
    req = copy.deepcopy(req)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        slots = list(_slots(req))
        container, key, _path = rng.choice(slots)
        how = rng.randrange(8)
        if how == 0:
            container[key] = hostile_value(rng)
        elif how in (1, 7):
            container[key] = plausible_value(container[key], rng)
        elif how == 2 and isinstance(container, dict):
            del container[key]
        elif how == 2:
            container.pop(key)
        elif how == 3 and isinstance(container, dict):
            container[rng.choice(["x", "金额", "__proto__", "members", "trace"])] = hostile_value(rng)
        elif how == 4:
            members = req.get("household", {}).get("members") if isinstance(req.get("household"), dict) else None
            if isinstance(members, list) and members:
                members.extend(copy.deepcopy(rng.choice(members)) for _ in range(rng.choice([1, 2, 40])))
        elif how == 5:
            req["date"] = rng.choice(DATES)
        else:
            req["locality"] = rng.choice(LOCALITIES)
    return req


def base_requests(evaluator, n: int = 40, seed: int = 7) -> list[dict]:
    """The example household and synthetic ones with every fact the rules read."""
    from policyc.batch.synthetic import synthetic_requests
    from policyc.runtime import jsonio
    found = [jsonio.loads(EXAMPLE.read_text(encoding="utf-8"))]
    found += [jsonio.loads(jsonio.dumps({k: v for k, v in r.items() if k != "id"}))  # `id` is for batch rows
              for r in synthetic_requests(evaluator, n, seed, "2024-07-01")]
    return found


# ── oracles ──────────────────────────────────────────────────────────────────────────────────────────────────────
def api_outcome(evaluator, req, rng: random.Random, *, seconds: float = 20.0) -> tuple[str, str | None]:
    """Evaluate through the API. Returns (outcome, the decision's JSON or None). A decision must serialise, be
    independent of the evaluator (mutating it changes no later decision) and agree with `evaluate_json`."""
    from policyc.runtime import BundleError, InputError, RuntimeFault, jsonio
    locality = rng.choice(LOCALITIES) if rng.random() < 0.1 else None
    date = rng.choice(DATES) if rng.random() < 0.1 else None
    programs = rng.choice(PROGRAMS) if rng.random() < 0.3 else None
    args = dict(locality=locality, date=date, programs=programs)
    try:
        with watchdog(seconds):
            decision = evaluator.evaluate(req, **args)
            text = jsonio.dumps(decision)
            if rng.random() < 0.2:  # a caller that redacts or reuses what it got back
                decision["bundle"].clear() if isinstance(decision.get("bundle"), dict) else None
                for p in decision.get("programs", {}).values():
                    if isinstance(p, dict):
                        p.clear()
                decision.get("trace", []).clear()
                again = jsonio.dumps(evaluator.evaluate(req, **args))
                if again != text:
                    raise Broken(f"a decision changed after the caller mutated an earlier one: {_replay(req, args)}")
            if rng.random() < 0.2:
                wire = evaluator.evaluate_json(req, **args)
                if jsonio.loads(wire) != jsonio.loads(text):
                    raise Broken(f"evaluate_json differs from evaluate: {_replay(req, args)}")
        return "decision", text
    except Hang as err:
        raise Broken(f"hang: {err}: {_replay(req, args)}") from None
    except InputError as err:
        if not err.problems or not all(isinstance(p, str) and p.startswith(ARGUMENT_PATHS) for p, _ in err.problems):
            raise Broken(f"an input error without JSON paths: {err.problems!r}: {_replay(req, args)}") from None
        if not all(CJK.search(m) for _, m in err.problems):
            raise Broken(f"an input error not in Chinese: {err.problems!r}") from None
        return "input_error", None
    except (BundleError, RuntimeFault) as err:
        if not CJK.search(str(err)):
            raise Broken(f"a runtime fault not in Chinese: {err!r}: {_replay(req, args)}") from None
        return "runtime_fault", None
    except Broken:
        raise
    except Exception as err:  # noqa: BLE001 — the point: anything else is a traceback a user could cause
        raise Broken(f"traceback {type(err).__name__}: {err!s:.300}: {_replay(req, args)}") from err


def _replay(req, args) -> str:
    try:
        from policyc.runtime import jsonio
        text = jsonio.dumps(req)
    except Exception:  # noqa: BLE001 — the request may hold what JSON cannot say (NaN, a lone surrogate)
        import reprlib
        text = reprlib.repr(req)
    return f"args={args!r} request={text[:2000]}"


def case_request(evaluator, bases: list[dict], rng: random.Random) -> str:
    return api_outcome(evaluator, mutate_request(rng.choice(bases), rng), rng)[0]


JSON_JUNK = ['{"a":1,"a":2}', "NaN", "1e999999999", "-0", "[" * 3000, '"\\ud800"', "\x00", "\ufeff", "{}", "[]",
             '{"household":', "1" * 5000, '"2024-07-01"', "true", "null", ",", "\\", '"\\u0000"']


def mutate_text(text: str, rng: random.Random, junk: list[str]) -> str:
    i = rng.randrange(len(text) + 1)
    j = min(len(text), i + rng.randrange(40))
    how = rng.randrange(4)
    piece = rng.choice(junk)
    if how == 0:
        return text[:i] + text[j:]
    if how == 1:
        return text[:j] + text[i:j] + text[j:]
    if how == 2:
        return text[:i] + piece + text[i:]
    return text[:i] + piece + text[j:]


def case_request_text(evaluator, bases: list[dict], rng: random.Random) -> str:
    """Mutated JSON text, read as a service or the CLI reads it."""
    from policyc.runtime import jsonio
    text = jsonio.dumps(rng.choice(bases))
    for _ in range(rng.randrange(1, 3)):
        text = mutate_text(text, rng, JSON_JUNK)
    try:
        with watchdog(20):
            req = jsonio.loads(text)
    except ValueError:  # json.JSONDecodeError is a ValueError; ours are Chinese
        return "bad_json"
    except RecursionError:
        return "bad_json"
    except Hang:
        raise Broken(f"hang reading JSON: {text[:300]!r}") from None
    return api_outcome(evaluator, req, rng)[0]


# ── the CLI ──────────────────────────────────────────────────────────────────────────────────────────────────────
def run_cli(argv: list[str], *, cwd=None, env=None, stdin=None, timeout: float = 120, stdout=subprocess.PIPE):
    proc = subprocess.run([sys.executable, "-m", "policyc", *argv], cwd=cwd or ROOT, env=env, input=stdin,
                          stdout=stdout, stderr=subprocess.PIPE, timeout=timeout)
    err = proc.stderr.decode("utf-8", "replace")
    if "Traceback" in err:
        raise Broken(f"traceback from policyc {' '.join(argv)}:\n{err[-2000:]}")
    if proc.returncode not in EXIT_CODES:
        raise Broken(f"exit {proc.returncode} (not documented) from policyc {' '.join(argv)}:\n{err[-1000:]}")
    return proc


def case_cli_agrees(evaluator, bundle_path: Path, bases: list[dict], rng: random.Random, workdir: Path) -> str:
    """`policyc eval --bundle` on a mutated request: the decision the API gives, byte for byte, or exit 2 exactly
    when the API refuses the request."""
    from policyc.runtime import jsonio
    req = mutate_request(rng.choice(bases), rng) if rng.random() < 0.8 else rng.choice(bases)
    try:
        text = jsonio.dumps(req)
        data = text.encode("utf-8")
    except (TypeError, ValueError):  # NaN, a lone surrogate: no file can hold it (UnicodeEncodeError is a ValueError)
        return "unwritable"
    path = workdir / "request.json"
    path.write_bytes(data)
    try:
        parsed = jsonio.loads(text)
    except ValueError:  # a number the reader refuses (2^63 written out, 1e400): the CLI must refuse the file too
        outcome, expected = "bad_json", None
    else:
        outcome, expected = api_outcome(evaluator, parsed, random.Random(0))  # the file's own locality and date
    proc = run_cli(["eval", "--bundle", str(bundle_path), str(path)])
    if outcome == "decision":
        if proc.returncode != 0 or proc.stdout.decode("utf-8").strip() != expected:
            raise Broken(f"the CLI (exit {proc.returncode}) decided otherwise than the API: {text[:2000]}")
    elif proc.returncode != 2:
        raise Broken(f"the API refused ({outcome}) but the CLI exited {proc.returncode}: {text[:2000]}")
    return f"cli_{outcome}"


ENVS = [{}, {"LANG": "C", "LC_ALL": "C"}, {"PYTHONIOENCODING": "ascii"}, {"PYTHONIOENCODING": "gbk"},
        {"PYTHONIOENCODING": "latin-1", "LANG": "C"}, {"COLUMNS": "5"}, {"TERM": "dumb"}]


def case_cli_env(rng: random.Random, bundle_path: Path, workdir: Path) -> str:
    """A subcommand with odd arguments in an odd environment: no traceback and a documented exit code, with
    stdout a pipe, closed early, a full disk or closed."""
    req = workdir / "req.json"
    if not req.exists():
        shutil.copy(EXAMPLE, req)
    ro = workdir / "not-a-dir"
    ro.write_text("x")
    commands = [
        ["eval", "--bundle", str(bundle_path), str(req)],
        ["eval", "--bundle", str(bundle_path), "--date", rng.choice(["9999-12-31", "0001-01-01", "2024-02-30", "x"]),
         str(req)],
        ["eval", "--bundle", str(bundle_path), "--programs", rng.choice([",", "dibao,,", "nope", "dibao", ""]),
         str(req)],
        ["eval", "--bundle", str(bundle_path), "--notice", str(req)],
        ["eval", "--bundle", str(bundle_path), "--notice", "--pdf", str(ro / "x.pdf"), str(req)],
        ["eval", "--bundle", str(workdir / "missing.json"), str(req)],
        ["eval", "--bundle", str(req), str(req)],
        ["explain", "--bundle", str(bundle_path), str(req)],
        ["check", "--expiring", rng.choice(["-1", "0", "36500", str(10 ** 30), "x"])],
        ["params", "--bundle", str(bundle_path), "--locality", rng.choice(["140105", "nope", ""]),
         "--date", rng.choice(["2024-07-01", "9999-12-31"])],
        ["localities", "--format", rng.choice(["text", "json", "xml"])],
        ["coverage"],
        ["verify", "--key", str(req), str(bundle_path)],
        ["keygen", str(ro / "key")],
        ["build", "--out", str(ro / "out")],
        ["batch", "--bundle", str(bundle_path), "--input", str(req), "--output", str(ro / "o.jsonl")],
        ["log", "--help"],
        ["nope"], [], ["--version"],
    ]
    argv = rng.choice(commands)
    env = dict(os.environ, **rng.choice(ENVS))
    sink = rng.randrange(4)
    if sink == 0:
        run_cli(argv, env=env, stdin=b"")
    elif sink == 1:
        with open("/dev/full", "wb") as full:
            run_cli(argv, env=env, stdin=b"", stdout=full)
    elif sink == 2:  # the reader goes away after one byte (`policyc … | head -c1`)
        proc = subprocess.Popen([sys.executable, "-m", "policyc", *argv], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.read(1)
        proc.stdout.close()
        err = proc.stderr.read().decode("utf-8", "replace")
        code = proc.wait(timeout=120)
        if "Traceback" in err or code not in EXIT_CODES | {141, -13}:
            raise Broken(f"exit {code} with a closed stdout from policyc {' '.join(argv)}:\n{err[-1500:]}")
    else:
        proc = subprocess.run([sys.executable, "-m", "policyc", *argv], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120, close_fds=True)
        if "Traceback" in proc.stderr.decode("utf-8", "replace") or proc.returncode not in EXIT_CODES:
            raise Broken(f"exit {proc.returncode} from policyc {' '.join(argv)}")
    return f"cli_{argv[0] if argv else 'none'}"


# ── bundles ──────────────────────────────────────────────────────────────────────────────────────────────────────
def mutate_bundle(bundle: dict, rng: random.Random) -> str:
    """A structural change anywhere in the bundle, its content hash recomputed (as an attacker would), as the text
    of a bundle file."""
    from policyc.runtime import jsonio
    from policyc.runtime.bundle import content_hash
    while True:
        b = copy.deepcopy(bundle)
        for _ in range(rng.randrange(1, 3)):
            container, key, _path = rng.choice(list(_slots(b)))
            how = rng.randrange(6)
            value = container[key]
            if how == 0:
                container[key] = hostile_value(rng)
            elif how == 1:
                if isinstance(container, dict):
                    del container[key]
                else:
                    container.pop(key)
            elif how == 2:
                container[key] = [value] if not isinstance(value, list) else {"0": value}
            elif how == 3 and isinstance(value, str):
                container[key] = rng.choice([value + "x", value[:-1], "", value * 2, "140000", "dibao", "money",
                                             "date"])
            elif how == 4 and isinstance(value, list) and value:
                value.append(copy.deepcopy(rng.choice(value)))
            elif how == 5 and isinstance(container, list) and len(container) > 1:
                rng.shuffle(container)
        try:
            if isinstance(b.get("manifest"), dict):
                b["manifest"]["sha256"] = content_hash(b)
            return jsonio.dumps(b)
        except (ValueError, TypeError, RecursionError):  # not writable as JSON (NaN, a lone surrogate): draw again
            continue


def case_bundle(bundle: dict, bases: list[dict], rng: random.Random, workdir: Path) -> str:
    """A mutated bundle file with a matching hash, loaded as a service loads it, then asked to decide."""
    from policyc.runtime import BundleError, Evaluator
    path = workdir / "hostile.bundle.json"
    path.write_text(mutate_bundle(bundle, rng), encoding="utf-8")
    try:
        with watchdog(60):
            evaluator = Evaluator.from_file(path)
    except BundleError as err:
        if not CJK.search(str(err)):
            raise Broken(f"a bundle error not in Chinese: {err!r}") from None
        return "bundle_refused"
    except Hang as err:
        raise Broken(f"hang loading a mutated bundle: {err}") from None
    except Exception as err:  # noqa: BLE001
        raise Broken(f"traceback loading a mutated bundle: {type(err).__name__}: {err!s:.300}") from err
    outcome = api_outcome(evaluator, copy.deepcopy(rng.choice(bases)), rng, seconds=60)[0]
    return f"bundle_loaded_{outcome}"


# ── policy sources ───────────────────────────────────────────────────────────────────────────────────────────────
SOURCE_JUNK = ["\r", "\r\n", "\ufeff", "\x00", "\t", "“", "\\u", "\\N{NOPE}", "\\x4", "\\", "1e400", ".inf", ".nan",
               "9" * 40, "&a", "*a", "!!python/object:os.system", "<<: *x", "---", "如果", "则", "否则", "定义", "规则",
               "(", ")", "元", "月", "岁", "低保标准", "×", "÷", "：", "\n  ", "\n\n", "#", "'", '"']
SOURCE_FILES = ["rules/dibao.policy", "rules/tekun.policy", "rules/household.policy", "rules/temporary.policy",
                "parameters/dibao.yaml", "parameters/tekun.yaml", "cases/dibao.yaml", "policy.yaml",
                "localities/140105-xiaodian.yaml", "events/drill-2024.yaml"]


def case_source_text(rng: random.Random) -> str:
    """One file of the policy set, mutated, through its own reader (parser or YAML loader) — fast, so the long run
    can try many."""
    from policyc.diagnostics import Reporter
    from policyc.dsl.parser import parse_file
    from policyc.load.yamlsrc import load_yaml
    from policyc.messages import MESSAGES
    name = rng.choice(SOURCE_FILES)
    text = (POLICY / name).read_text(encoding="utf-8")
    for _ in range(rng.randrange(1, 4)):
        text = mutate_text(text, rng, SOURCE_JUNK)
    reporter = Reporter()
    try:
        with watchdog(30):
            (parse_file if name.endswith(".policy") else load_yaml)(name, text, reporter)
    except Hang:
        raise Broken(f"hang reading a mutated {name}") from None
    except Exception as err:  # noqa: BLE001
        raise Broken(f"traceback reading a mutated {name}: {type(err).__name__}: {err!s:.300}\n{text[:3000]}") from err
    unknown = [d.code for d in reporter.items if d.code not in MESSAGES]
    if unknown:
        raise Broken(f"undocumented diagnostic codes {unknown}")
    return "source_diagnosed" if reporter.items else "source_read"


def case_policy_set(rng: random.Random, workdir: Path) -> str:
    """A whole policy set with one file mutated, compiled: diagnostics with documented codes, or a bundle."""
    from policyc.compiler import compile_policy
    from policyc.diagnostics import PolicyError, Reporter
    from policyc.messages import MESSAGES
    dest = workdir / "policy"
    if not dest.exists():
        shutil.copytree(POLICY, dest)
    name = rng.choice(SOURCE_FILES)
    original = (POLICY / name).read_text(encoding="utf-8")
    text = original
    for _ in range(rng.randrange(1, 3)):
        text = mutate_text(text, rng, SOURCE_JUNK)
    (dest / name).write_text(text, encoding="utf-8", newline="")
    reporter = Reporter()
    try:
        with watchdog(120):
            compile_policy(dest, reporter)
        outcome = "policy_compiled"
    except PolicyError:
        outcome = "policy_refused"
    except Hang:
        raise Broken(f"hang compiling a mutated {name}") from None
    except Exception as err:  # noqa: BLE001
        raise Broken(f"traceback compiling a mutated {name}: {type(err).__name__}: {err!s:.300}") from err
    finally:
        (dest / name).write_text(original, encoding="utf-8", newline="")
    unknown = [d.code for d in reporter.items if d.code not in MESSAGES]
    if unknown:
        raise Broken(f"undocumented diagnostic codes {unknown}")
    return outcome


# ── builds killed at a random moment ─────────────────────────────────────────────────────────────────────────────
def _tree(root: Path):
    if not root.is_dir():
        return None
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


class Builds:
    """Two full output trees from the real CLI: the shipped policy set ("old") and a copy with the urban 低保
    standard raised by 20 元 ("new"), and how long a build takes."""

    def __init__(self, workdir: Path):
        from conftest import set_urban_standard, yuan
        self.root = workdir / "builds"
        self.trees = {}
        for name in ("old", "new"):
            policy = self.root / name / "shanxi"
            shutil.copytree(POLICY, policy)
            if name == "new":
                set_urban_standard(policy, yuan(Decimal(set_urban_standard(policy, "0")) + 20))
            (self.root / name / "cwd").mkdir()
            started = time.monotonic()
            run_cli(["build", "--policy", str(policy), "--out", str(self.root / name / "out")], cwd=self.root / name / "cwd")
            self.seconds = time.monotonic() - started
            self.trees[name] = _tree(self.root / name / "out")


def case_build_kill(builds: Builds, rng: random.Random) -> str:
    """A real `policyc build` of the new policy over the old output, SIGKILLed at a random moment: the output is
    all old or all new; the next build completes it and leaves nothing beside it."""
    site = builds.root / "site"
    shutil.rmtree(site, ignore_errors=True)
    out = site / "generated"
    shutil.copytree(builds.root / "old" / "out", out)
    cwd = builds.root / "new" / "cwd"
    argv = [sys.executable, "-m", "policyc", "build", "--policy", str(builds.root / "new" / "shanxi"), "--out", str(out)]
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0, builds.seconds * 1.1))
    proc.kill()
    proc.wait()
    state = _tree(out)
    kind = "old" if state == builds.trees["old"] else "new" if state == builds.trees["new"] else "mixed"
    if kind == "mixed":
        raise Broken(f"a build killed after a random delay left a mixed tree in {out}")
    run_cli(argv[3:], cwd=cwd)
    if _tree(out) != builds.trees["new"] or {p.name for p in site.iterdir()} - {"generated", ".generated.policyc.lock"}:
        raise Broken(f"the build after a killed one left {sorted(p.name for p in site.iterdir())}")
    return f"build_killed_{kind}"


# ── one place to run them ────────────────────────────────────────────────────────────────────────────────────────
class Context:
    """What the cases share: the committed bundle, an evaluator of it, base requests and a scratch directory."""

    def __init__(self, bundle_path: Path = ROOT / "generated" / "shanxi.bundle.json", bases: int = 30):
        from policyc.runtime import Evaluator, jsonio
        self.bundle_path = bundle_path
        self.bundle = jsonio.loads(bundle_path.read_text(encoding="utf-8"))
        self.evaluator = Evaluator(copy.deepcopy(self.bundle))
        self.bases = base_requests(self.evaluator, bases)
        self.workdir = Path(tempfile.mkdtemp(prefix="policyc-fuzz-"))

    @property
    def builds(self) -> Builds:
        if not hasattr(self, "_builds"):
            self._builds = Builds(self.workdir)
        return self._builds

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def run(self, kind: str, rng: random.Random) -> str:
        return KINDS[kind](self, rng)


KINDS = {
    "request": lambda c, rng: case_request(c.evaluator, c.bases, rng),
    "request_text": lambda c, rng: case_request_text(c.evaluator, c.bases, rng),
    "source_text": lambda c, rng: case_source_text(rng),
    "bundle": lambda c, rng: case_bundle(c.bundle, c.bases, rng, c.workdir),
    "policy_set": lambda c, rng: case_policy_set(rng, c.workdir),
    "cli_agrees": lambda c, rng: case_cli_agrees(c.evaluator, c.bundle_path, c.bases, rng, c.workdir),
    "cli_env": lambda c, rng: case_cli_env(rng, c.bundle_path, c.workdir),
    "build_kill": lambda c, rng: case_build_kill(c.builds, rng),  # long run only: CI kills in test_build_atomic.py
}
