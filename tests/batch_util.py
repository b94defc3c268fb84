"""Shared by the batch tests: synthetic populations with rows of every kind, and decisions in one canonical form
so that a batch output row and `Evaluator.evaluate` can be compared value by value."""
from __future__ import annotations

import copy
import datetime as dt
import random
from decimal import Decimal

from policyc.batch.sqlgen import SqlCodegen
from policyc.batch.synthetic import synthetic_requests

DAY = "2024-07-01"


def population(evaluator, n: int, seed: int = 3) -> list[dict]:
    return list(synthetic_requests(evaluator, n, seed, DAY))


def spread(requests: list[dict], evaluator) -> list[dict]:
    """A copy in which households are spread over other dates and into a place with an emergency in force, so
    that every parameter timeline and the emergency rises are exercised."""
    events = evaluator.bundle.get("events", [])
    out = []
    for i, r in enumerate(requests):
        r = copy.deepcopy(r)
        if i % 5 == 0 and events:
            e = events[i // 5 % len(events)]
            r["locality"], r["date"] = e["localities"][0], e["from"]
        elif i % 5 == 1:
            r["date"] = "2023-03-01"
        elif i % 5 == 2:
            r["date"] = "2026-12-31"
        out.append(r)
    return out


def assisted(requests: list[dict], evaluator) -> list[dict]:
    """A copy in which every household receiving 低保 was helped into work, its income at the last determination
    differs enough that the recheck uses the current income, and a single member's earnings are chosen so that
    what remains after the employment-cost deduction (a percentage, read from the policy) has a third decimal
    that rounds to whole yuan (305.71 × 70 % = 213.997): that decimal must survive until the amount is rounded."""
    out = []
    for r in requests:
        r = copy.deepcopy(r)
        hh = r["household"]
        if hh.get("receiving_dibao"):
            hh["employment_assisted"] = True
            if hh["receiving_dibao"].get("determined_income") is not None:
                hh["receiving_dibao"]["determined_income"] = Decimal(hh["receiving_dibao"]["determined_income"]) + 150
            if len(hh["members"]) == 1:
                values = evaluator.params_at(r["locality"], dt.date.fromisoformat(r["date"]))[0]
                rate, cap = values["dibao.employment_cost.rate"], values["dibao.employment_cost.cap"]
                fen = int(Decimal(hh["members"][0]["monthly_income"]) * 100)
                for f in range(fen, fen + 2000):
                    x = Decimal(f) / 100
                    kept = x - x * rate
                    if x * rate < cap and kept != kept.quantize(Decimal("0.01")) and \
                            kept.quantize(Decimal("0.01")) == kept.quantize(Decimal(1)):
                        hh["members"][0]["monthly_income"] = hh["members"][0]["earned_income"] = x
                        break
        out.append(r)
    return out


def mutate(requests: list[dict], evaluator, seed: int = 11, share: float = 0.25) -> list[dict]:
    """A copy where about `share` of the households carry one oddity each: a fact left out (unknown), an
    optional fact set to null, a locality given by name, a value of the wrong type or with three decimals, an
    unknown key. Each row's `id` is kept."""
    rng = random.Random(seed)
    names = {j["code"]: j["full_name"] for j in evaluator.bundle["jurisdictions"]}
    out = []
    for r in requests:
        r = copy.deepcopy(r)
        if rng.random() < share:
            kind = rng.randrange(7)
            m = rng.choice(r["household"]["members"])
            if kind == 0:
                m.pop(rng.choice([k for k in m if k != "id"]))
            elif kind == 1:
                r["household"].pop(rng.choice([k for k in r["household"] if k != "members"]))
            elif kind == 2:
                m["disability_type"] = None
            elif kind == 3:
                r["locality"] = names[r["locality"]]
            elif kind == 4:
                m["monthly_income"] = "abc"
            elif kind == 5:
                m["monthly_income"] = Decimal("1.005")
            else:
                r["household"]["colour"] = "blue"
        out.append(r)
    return out


def canon(x):
    """Decisions as plain comparable values: numbers as normalised Decimal text, dates as ISO text, Arrow maps
    (lists of pairs) as dicts."""
    if isinstance(x, dict):
        return {k: canon(v) for k, v in x.items()}
    if isinstance(x, list):
        if x and all(isinstance(i, tuple) and len(i) == 2 for i in x):
            return {k: canon(v) for k, v in x}
        return [canon(i) for i in x]
    if isinstance(x, Decimal) or (isinstance(x, (int, float)) and not isinstance(x, bool)):
        d = Decimal(str(x))
        return str(d.normalize()) if d else "0"
    if isinstance(x, (dt.date, dt.datetime)):
        return x.isoformat()[:10]
    return x


def expected(evaluator, request: dict, programs=None, reasons: bool = False) -> dict:
    """What a batch row should hold for `request`, from the Python runtime: programs, referrals, missing_facts."""
    request = dict(request)
    request.pop("id", None)
    d = evaluator.evaluate(request, programs=programs)
    keys = [k for k, _ in SqlCodegen.REFERRAL[1]]

    def strip(node):
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                if k == "reasons":
                    if reasons:
                        out[k] = [r["rule"] for r in v]
                    continue
                out[k] = strip(v)
            return out
        return node
    return canon({"locality": d["locality"]["code"], "date": d["date"], "programs": strip(d["programs"]),
                  "referrals": [{k: r.get(k) for k in keys} for r in d["referrals"]],
                  "missing_facts": d["missing_facts"]})


def actual(row: dict) -> dict:
    return canon({k: row[k] for k in ("locality", "date", "programs", "referrals", "missing_facts")})
