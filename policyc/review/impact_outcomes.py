"""What `policyc impact` compares, derived from the IR: per program, which outputs are its eligibility and which
its monthly amount (docs/impact.md "读哪些输出"), the compact outcome of one decision, and which programs can
differ at all between two versions (the others need not be evaluated: their results are the same by
construction)."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .. import ir
from ..runtime import jsonio


@dataclass(frozen=True)
class ProgramSpec:
    id: str
    name: str
    eligibility: tuple[tuple[str, str | None], ...]  # (output key, scope) of its 是否 outputs that mean eligibility
    amounts: tuple[tuple[str, str | None], ...]  # (output key, scope) of the amounts compared
    monthly: bool  # the amounts are 元/月: their sum is the program's monthly cost
    referrals: bool = False  # its referrals (转介) are its eligibility: it has no eligibility outputs of its own
    referral_amounts: frozenset = frozenset()  # item ids of referrals whose 元/月 amount is its amount


def program_specs(module: ir.Module) -> dict[str, ProgramSpec]:
    """Per program: eligibility = its 是否 outputs named `eligible` (at any scope), or, if it has none, all its
    non-optional 是否 outputs (e.g. 低保边缘家庭, 刚性支出困难家庭); amounts = its 元/月 outputs named
    `monthly_amount` (the total: 特困's basic living and care are its parts), or, if none, all its 元/月 outputs;
    a program without monthly amounts compares its one-off 元 outputs (临时救助) and has no monthly cost. A program
    with neither eligibility nor amount outputs but with referrals (专项救助) is eligible where a referral is due,
    and its referrals' 元/月 amounts (残疾人两项补贴) are its monthly amount."""
    defs = {d.id: d for d in module.definitions}
    out = {}
    for p in module.programs:
        outs = [defs[o] for o in p.outputs]
        bools = [d for d in outs if d.type == "bool"]
        elig = [d for d in bools if d.key.split(".")[-1] == "eligible"] or bools
        monthly = [d for d in outs if ir.strip_optional(d.type) == "money/month"]
        named = [d for d in monthly if d.key.split(".")[-1] == "monthly_amount"]
        amounts = named or monthly
        if not amounts:
            amounts = [d for d in outs if d.type in ("money", "money/year")]
        refs = [defs[r] for r in p.referrals]
        by_referral = not elig and bool(refs)
        paid = frozenset(d.key for d in refs if d.amount is not None
                         and ir.strip_optional(d.amount.type) == "money/month") if not amounts else frozenset()
        out[p.id] = ProgramSpec(p.id, p.name, tuple((d.key, d.scope) for d in elig),
                                tuple((d.key, d.scope) for d in amounts), bool(named or monthly or paid),
                                by_referral, paid)
    return out


def _get(result: dict, key: str):
    for part in key.split("."):
        if not isinstance(result, dict):
            return None
        result = result.get(part)
    return result


# An outcome: (eligibility, amount, undecided), comparable with ==, small enough to send between processes.
#   eligibility: ((member id or "", True/False/None), ...): the household's status ("" first), then each member's
#   amount: Decimal (household total) or None (undecided)
#   undecided: the sorted outputs left undecided ("key" or "member:key")
def outcome(spec: ProgramSpec, result: dict, referrals=()) -> tuple:
    """`referrals`: the decision's referrals of this program (used when spec.referrals or referral_amounts)."""
    members = result.get("members") if isinstance(result.get("members"), dict) else {}
    elig = []
    household = [_get(result, k) for k, scope in spec.eligibility if scope is None]
    if household:
        elig.append(("", _any(household)))
    if any(scope is not None for _, scope in spec.eligibility):
        for mid, m in members.items():
            elig.append((mid, _any([_get(m, k) for k, scope in spec.eligibility if scope is not None])))
    amount = Decimal(0)
    for key, scope in spec.amounts:
        values = [_get(result, key)] if scope is None else [_get(m, key) for m in members.values()]
        for v in values:
            if v is None or amount is None:
                amount = None
            else:
                amount += v
    undecided = list(result.get("undecided") or ())
    for mid, m in members.items():
        undecided += [f"{mid}:{k}" for k in m.get("undecided") or ()]
    if spec.referrals or spec.referral_amounts:
        for r in referrals:
            key = f"{r['item_id']}:{r['member'] or ''}"
            due = True if r["status"] == "due" else None
            if spec.referrals:
                elig.append((key, due))
            if due is None:
                undecided.append(f"referral:{key}")
            if r["item_id"] in spec.referral_amounts:
                paid = r["amount"] if due else None  # a referral not yet settled: its amount neither
                amount = None if amount is None or paid is None else amount + paid
    return tuple(elig), amount, tuple(sorted(undecided))


def _any(values: list):
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def status(elig: tuple):
    """The household's eligibility in a program: True if it or any member is eligible, None if undecided."""
    return _any([v for _, v in elig])


def changed_programs(base: dict, head: dict, modules=None) -> set[str]:
    """The programs whose results can differ between two bundles: every program if what all of them read differs
    (the request's declarations, the jurisdictions, the emergencies); otherwise those whose definitions (all
    they depend on) or the parameters those read differ, or that exist in one version only. Conservative: a
    difference in anything but where a thing is written gets the program evaluated. `modules`: the bundles' IR,
    if already read."""
    def common(b):
        i = b["ir"]
        return jsonio.dumps(_semantic([i["enums"], i["records"], i["inputs"], b["jurisdictions"],
                                       b.get("events", [])]), indent=None, sort_keys=True)
    modules = modules or (ir.Module.from_json(base["ir"]), ir.Module.from_json(head["ir"]))
    programs = _fingerprints(base, modules[0]), _fingerprints(head, modules[1])
    if common(base) != common(head):
        return set(programs[0]) | set(programs[1])
    return {p for p in set(programs[0]) | set(programs[1]) if programs[0].get(p) != programs[1].get(p)}


def _fingerprints(bundle: dict, module: ir.Module) -> dict[str, str]:
    params = bundle["parameters"]
    out = {}
    for p in module.programs:
        needed = module.needed([p])
        read = set(p.parameters)
        for d in needed:
            for e in d.expressions():
                read |= {n.value for n in e.walk() if isinstance(n.value, str) and n.value in params}
        out[p.id] = jsonio.dumps(_semantic([p.to_json(), [d.to_json() for d in needed],
                                            {pid: params.get(pid) for pid in sorted(read)}]),
                                 indent=None, sort_keys=True)
    return out


def _semantic(value):
    """Without `defined_at` (where a definition or value was written: the same rule compiled from another
    directory or moved a line differs there only); nothing the evaluator computes reads it."""
    if isinstance(value, dict):
        return {k: _semantic(v) for k, v in value.items() if k != "defined_at"}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value
