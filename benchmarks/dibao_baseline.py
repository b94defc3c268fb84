"""A hand-written Decimal loop of the 低保 rules (policies/shanxi/rules/dibao.policy, with the 特困 eligibility of
tekun.policy that decides which members are left out of the 低保 accounting): the speed a plain Python program
reaches on the same rules, for bench_batch.py. Not used by policyc; it must agree with
`Evaluator.evaluate(..., programs=["dibao"])` on complete households, which bench_batch.py checks on every row.

`decide(request, params, day)` → (eligible, monthly_amount) for a request whose facts are all given (the
synthetic population's); `params` are the values `Evaluator.params_at(locality, day)[0]` returns."""
from __future__ import annotations

import calendar
import datetime as dt
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

ZERO = Decimal(0)
ROUNDING = {"ceil_yuan": (Decimal(1), ROUND_CEILING), "round_yuan": (Decimal(1), ROUND_HALF_UP),
            "floor_yuan": (Decimal(1), ROUND_FLOOR), "ceil_jiao": (Decimal("0.1"), ROUND_CEILING),
            "round_jiao": (Decimal("0.1"), ROUND_HALF_UP), "round_fen": (Decimal("0.01"), ROUND_HALF_UP)}
ARTICLE5_MINDS = ("intellectual", "mental")


def _add_months(day: dt.date, months: int) -> dt.date:
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _lookup(rows, key):
    found = ZERO
    for bound, value in rows:
        if key >= bound:
            found = value
        else:
            break
    return found


def _listed(kind, grade) -> bool:  # 特困人员认定办法 第五条: the disabilities that mean 无劳动能力
    return grade in (1, 2, 3) and (kind in ARTICLE5_MINDS or kind == "physical" and grade <= 2
                                   or kind == "visual" and grade == 1)


def _supporter_unable(s: dict) -> bool:
    low = s["income_below_local_average"] and s["assets_within_low_income_limit"]
    return (s["tekun"] or s["dibao"] and s["age"] >= 60 or s["age"] >= 70 and low
            or (s["severe_disability"] or s["intellectual_or_mental_grade3"]) and low
            or s["incapacitated_missing_or_imprisoned"] and s["assets_within_low_income_limit"])


def _member_unable(m: dict, receiving) -> bool:
    low = m["income_below_local_average"] and m["assets_within_low_income_limit"]
    grade, kind = m["disability_grade"], m["disability_type"]
    return m.get("tekun_since") is not None or (
        m["age"] >= 60 and receiving is not None and m["dibao_recipient"]) or m["age"] >= 70 and low or (
        (grade in (1, 2) or grade == 3 and kind in ARTICLE5_MINDS) and low) or (
        m["legally_incapacitated"] and m["assets_within_low_income_limit"])


def _names(me: dict, other: dict) -> bool:
    return any(s["member_id"] == other["id"] for s in me["resident_supporters"])


def _obliged(me: dict, o: dict) -> bool:
    """Whether co-resident member o is a legal supporter of me (tekun.policy 同住有能力的法定义务人, less the 能力 test)."""
    mine, theirs = me["relation"], o["relation"]
    if mine == "applicant":
        if theirs == "spouse":
            return True
        if theirs == "child":
            return o["age"] >= 18
        if theirs == "parent" and me["age"] < 18:
            return True
        if theirs == "grandparent" and me["age"] >= 18 or theirs in ("other", "applicant"):
            return False
        return _names(me, o)
    if theirs == "applicant":
        if mine == "spouse":
            return True
        if mine == "parent":
            return o["age"] >= 18
        if mine == "child" and me["age"] < 18:
            return True
        if mine == "grandchild" and me["age"] >= 18 or mine == "other":
            return False
        return _names(me, o)
    return _names(me, o)


def tekun_eligible(m: dict, members: list, unable: list, hh: dict, standard, minor_age) -> bool:
    grade, kind = m["disability_grade"], m["disability_type"]
    tekun_since = m.get("tekun_since")
    unable_to_work = (m["age"] >= 60 or m["age"] < minor_age
                      or _listed(kind, grade)
                      or grade in (1, 2, 3) and kind == "multiple"
                      and any(_listed(c["type"], c["grade"]) for c in m["disability_components"])
                      or tekun_since is not None and (m["age"] < 18 or m["student_stage"] in ("compulsory",
                                                                                               "high_school")))
    if not unable_to_work or not (m["monthly_income"] < standard and hh["assets_within_limit"]):
        return False
    for o, o_unable in zip(members, unable):
        if o["id"] != m["id"] and not o_unable and _obliged(m, o):
            return False
    return all(_supporter_unable(s) for s in m["supporters"])


def decide(request: dict, p: dict, day: dt.date):
    """(eligible, monthly amount) of the 低保 program for one complete request."""
    return route(request, p, day)[:2]


def route(request: dict, p: dict, day: dt.date):
    """(eligible, monthly amount, how: "household", "grace", "single" or "none", whether a member is 特困)."""
    hh = request["household"]
    members = hh["members"]
    receiving = hh.get("receiving_dibao")
    standard = p["dibao.standard.urban"] if hh["area"] == "urban" else p["dibao.standard.rural"]
    unable = [_member_unable(m, receiving) for m in members]
    minor_age = p["tekun.minor_age_limit"]
    counted = [not tekun_eligible(m, members, unable, hh, standard, minor_age) for m in members]
    deducting = receiving is not None and hh["employment_assisted"]
    rate, cap = p["dibao.employment_cost.rate"], p["dibao.employment_cost.cap"]
    incomes = [m["monthly_income"] - (min(m["earned_income"] * rate, cap) if deducting else ZERO) for m in members]
    size = sum(counted)
    income = sum((x for x, c in zip(incomes, counted) if c), ZERO)
    hh_standard = standard * size
    below = size > 0 and income < hh_standard
    eligible_hh = below and hh["assets_within_limit"]
    method, rounding = p["dibao.amount_method"], ROUNDING[p["dibao.rounding"]]
    if eligible_hh:
        assessed = income
        if receiving is not None:
            det_income, det_size = receiving["determined_income"], receiving["determined_size"]
            change = p["recheck.significant_income_change"] * size
            if (det_size is not None and det_size == size and det_income is not None
                    and income - det_income < change and det_income - income < change and det_income < hh_standard):
                assessed = det_income
        if method == "gap":
            amount = hh_standard - assessed
        else:
            amount = _lookup(p["dibao.tiers"], standard - Decimal(assessed) / size) * size
        return True, amount.quantize(rounding[0], rounding=rounding[1]), "household", size < len(members)
    if deducting and size > 0 and not below and hh["assets_within_limit"]:  # 渐退期
        rise = receiving["income_above_standard_since"]
        if rise is not None:
            rise = dt.date.fromisoformat(rise) if isinstance(rise, str) else rise
            if rise <= day < _add_months(rise, p["dibao.grace_months"]):
                return True, receiving["monthly_amount"], "grace", size < len(members)
    low_income = (size > 0 and hh["assets_within_limit"]
                  and income < hh_standard * p["dibao.low_income_ratio"])
    covered, total = False, ZERO
    for m, x, c in zip(members, incomes, counted):
        if not c or not x < standard:
            continue
        grade = m["disability_grade"]
        severe = 1 <= grade <= 2 or grade == 3 and m["disability_type"] in ARTICLE5_MINDS or m["serious_illness"]
        if (low_income and severe or m["age"] >= 18 and 1 <= grade <= 2 and not m["employed"]
                and m["own_assets_within_limit"]):
            covered = True
            gap = standard - x
            value = gap if method == "gap" else _lookup(p["dibao.tiers"], gap)
            total += value.quantize(rounding[0], rounding=rounding[1])
    return covered, total, "single" if covered else "none", size < len(members)
