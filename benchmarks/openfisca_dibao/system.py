"""The 低保 household rules of policies/shanxi/rules/dibao.policy as an OpenFisca tax-benefit system (openfisca-core
46), for benchmarks/bench_batch.py only — not part of policyc.

Encoded: per-member employment-cost deduction (receiving families helped by employment assistance), household size and
income, the standard by area and locality, eligibility (income below standard × size, assets), the recheck rule that
keeps the income determined last time when it has not changed significantly, the amount by the locality's method (gap
or tiers) and rounding. Not encoded (fewer rules, so the comparison favours OpenFisca): members excluded because they
qualify for 特困, the 渐退期, and 单人户 coverage. Parameters vary by locality: each is a node keyed by locality code,
indexed by the household's `locality` enum (vectorial parameters)."""
from __future__ import annotations

import numpy as np
from openfisca_core.entities import build_entity
from openfisca_core.indexed_enums import Enum
from openfisca_core.parameters import ParameterNode
from openfisca_core.periods import DateUnit
from openfisca_core.taxbenefitsystems import TaxBenefitSystem
from openfisca_core.variables import Variable

Person = build_entity(key="person", plural="persons", label="家庭成员", is_person=True)
Household = build_entity(key="household", plural="households", label="申请家庭",
                         roles=[{"key": "member", "plural": "members", "label": "成员"}])
ROUNDING = ("ceil_yuan", "round_yuan", "floor_yuan", "ceil_jiao", "round_jiao", "round_fen")
QUANTUM = np.array([1, 1, 1, 0.1, 0.1, 0.01])
MONTH = DateUnit.MONTH


def _var(name, entity, value_type, formula=None, default=0, enum=None):
    attrs = {"value_type": value_type, "entity": entity, "definition_period": MONTH, "default_value": default}
    if enum is not None:
        attrs.update(possible_values=enum, default_value=list(enum)[0])
    if formula is not None:
        attrs["formula"] = formula
    return type(name, (Variable,), attrs)


def build_system(params: dict) -> TaxBenefitSystem:
    """params: {locality code: {parameter id: value as text, "dibao.tiers": [[bound, value], …]}}."""
    Locality = Enum("Locality", [(f"l{c}", c) for c in params])  # noqa: N806 (an enum class)
    rows = max(len(p["dibao.tiers"]) for p in params.values())

    def node(f):
        return {f"l{c}": {"values": {"2000-01-01": f(p)}} for c, p in params.items()}

    data = {"standard_urban": node(lambda p: float(p["dibao.standard.urban"])),
            "standard_rural": node(lambda p: float(p["dibao.standard.rural"])),
            "tiered": node(lambda p: int(p["dibao.amount_method"] == "tiered")),
            "rounding": node(lambda p: ROUNDING.index(p["dibao.rounding"])),
            "rate": node(lambda p: float(p["dibao.employment_cost.rate"])),
            "cap": node(lambda p: float(p["dibao.employment_cost.cap"])),
            "change": node(lambda p: float(p["recheck.significant_income_change"]))}
    for k in range(rows):
        data[f"tier_from_{k}"] = node(lambda p: float(p["dibao.tiers"][k][0]) if k < len(p["dibao.tiers"]) else 1e12)
        data[f"tier_value_{k}"] = node(lambda p: float(p["dibao.tiers"][k][1]) if k < len(p["dibao.tiers"]) else 0.0)

    def at(household, period, name):
        return system.parameters(period).dibao[name][household("locality", period)]

    def employment_deduction(person, period, parameters):
        hh = person.household
        on = hh("receiving", period) * hh("employment_assisted", period)
        rate, cap = at(hh, period, "rate"), at(hh, period, "cap")  # hh(...) is already per person
        return np.where(on, np.minimum(person("earned_income", period) * rate, cap), 0)

    def counted_income(person, period):
        return person("monthly_income", period) - person("employment_deduction", period)

    def size(household, period):
        return household.nb_persons()

    def income(household, period):
        return household.sum(household.members("counted_income", period))

    def standard(household, period):
        return np.where(household("urban", period), at(household, period, "standard_urban"),
                        at(household, period, "standard_rural"))

    def eligible(household, period):
        n = household("size", period)
        return (n > 0) & (household("income", period) < household("standard", period) * n) & household(
            "assets_ok", period)

    def assessed_income(household, period):
        n, inc = household("size", period), household("income", period)
        det = household("determined_income", period)
        change = at(household, period, "change") * n
        same = (household("receiving", period) & household("eligible", period) & household("has_determined", period)
                & (household("determined_size", period) == n) & (inc - det < change) & (det - inc < change)
                & (det < household("standard", period) * n))
        return np.where(same, det, inc)

    def amount(household, period):
        n, std = household("size", period), household("standard", period)
        assessed = household("assessed_income", period)
        key = std - assessed / np.maximum(n, 1)
        tier = np.zeros_like(key)
        for k in range(rows):
            tier = np.where(key >= at(household, period, f"tier_from_{k}"), at(household, period, f"tier_value_{k}"),
                            tier)
        raw = np.where(at(household, period, "tiered") == 1, tier * n, std * n - assessed)
        mode = at(household, period, "rounding")
        q = QUANTUM[mode]
        x = raw / q
        rounded = np.select([mode == 0, mode == 1, mode == 2, mode == 3, mode == 4],
                            [np.ceil(x - 1e-6), np.floor(x + 0.5), np.floor(x + 1e-6), np.ceil(x - 1e-6),
                             np.floor(x + 0.5)], np.floor(x + 0.5)) * q
        return np.where(household("eligible", period), rounded, 0)

    system = TaxBenefitSystem([Person, Household])
    system.parameters = ParameterNode("", data={"dibao": data})
    variables = [
        _var("monthly_income", Person, float), _var("earned_income", Person, float),
        _var("employment_deduction", Person, float, employment_deduction),
        _var("counted_income", Person, float, counted_income),
        _var("locality", Household, Enum, enum=Locality), _var("urban", Household, bool, default=False),
        _var("assets_ok", Household, bool, default=False), _var("receiving", Household, bool, default=False),
        _var("employment_assisted", Household, bool, default=False),
        _var("has_determined", Household, bool, default=False), _var("determined_income", Household, float),
        _var("determined_size", Household, int),
        _var("size", Household, int, size), _var("income", Household, float, income),
        _var("standard", Household, float, standard), _var("eligible", Household, bool, eligible, default=False),
        _var("assessed_income", Household, float, assessed_income), _var("amount", Household, float, amount)]
    for v in variables:
        system.add_variable(v)
    system.Locality = Locality
    return system

