"""The interpreter's semantics of unknown facts, on small IR modules built here (independent of any policy set):
Kleene logic, intervals, lists with uncertain members, and a property test that every result the interpreter
decides from partial facts equals the compiled evaluator's result on every completion of those facts."""
import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from policyc.ir import Definition, Enum, Expr, Field, Module, Program, Record
from policyc.runtime import evaluator as evaluator_module
from policyc.runtime.codegen_rules import RulesCodegen
from policyc.runtime.partial import PartialEvaluator
from policyc.runtime.unknown import Unknown, fact

DAY = dt.date(2024, 7, 1)
ITEM = Record("item", "项", [Field("id", "编号", "text", presence="required"), Field("amount", "金额", "money/month"),
                             Field("flag", "标记", "bool")])
HOUSE = Record("house", "户", [Field("x", "甲", "money/month"), Field("y", "乙", "money/month"),
                               Field("n", "人数", "count", 0, 6), Field("p", "真假甲", "bool"),
                               Field("q", "真假乙", "bool"), Field("kind", "类", "enum:kind"),
                               Field("items", "各项", "list:record:item", presence="required")])
KIND = Enum("kind", "类别", [("a", "甲类"), ("b", "乙类"), ("c", "丙类")])


def module(exprs: dict[str, Expr]) -> Module:
    defs = [Definition(f"t.{k}", k, "output", e.type, e, "t") for k, e in exprs.items()]
    return Module({"kind": KIND}, {"item": ITEM, "house": HOUSE}, [Field("house", "户", "record:house",
                                                                          presence="required")],
                  defs, [Program("t", "测试", (), [d.id for d in defs])], {})


def h(field: str, t: str) -> Expr:
    return Expr("field", t, (Expr("input", "record:house", value="house"),), field)


def lit(t: str, v) -> Expr:
    return Expr("lit", t, value=v)


def item_field(field: str, t: str, var: str = "e1") -> Expr:
    return Expr("field", t, (Expr("elem", "record:item", value=var),), field)


ITEMS = h("items", "list:record:item")


def partial(exprs: dict[str, Expr], house: dict) -> dict:
    ev = PartialEvaluator(module(exprs), lambda c: c)
    results, _ = ev.fork().evaluate({"house": house}, {}, DAY, "140000", None)
    return results["t"]


def unknown(t: str, path: str, lo=None, hi=None, codes=None) -> Unknown:
    return fact(t, frozenset({path}), lo, hi, codes)


def test_kleene_logic_decides_when_one_side_settles_it():
    p, q = h("p", "bool"), h("q", "bool")
    out = partial({"and_": Expr("and", "bool", (p, q)), "or_": Expr("or", "bool", (p, q)),
                   "not_": Expr("not", "bool", (q,))},
                  {"p": False, "q": unknown("bool", "$.house.q"), "items": []})
    assert out["and_"] is False  # 假 且 未知 = 假
    assert out["or_"] is None and out["not_"] is None
    assert set(out["_undecided"]) == {"or_", "not_"} and out["_missing"] == {"$.house.q"}


def test_known_incomes_over_the_line_decide_although_another_income_is_unknown():
    total = Expr("add", "money/month", (h("x", "money/month"), h("y", "money/month")))
    below = Expr("lt", "bool", (total, lit("money/month", "1000")))
    out = partial({"below": below, "total": total},
                  {"x": Decimal("1200"), "y": unknown("money/month", "$.house.y"), "items": []})
    assert out["below"] is False  # money is never negative: 1200 + y ≥ 1200
    assert out["total"] is None and out["_missing"] == {"$.house.y"}


def test_an_if_whose_branches_agree_needs_no_condition():
    e = Expr("if", "money/month", (h("p", "bool"), lit("money/month", "5"), lit("money/month", "5")))
    assert partial({"v": e}, {"p": unknown("bool", "$.house.p"), "items": []})["v"] == Decimal("5")


def test_filtering_on_an_unknown_condition_bounds_the_count():
    flagged = Expr("filter", "list:record:item", (ITEMS, item_field("flag", "bool")), "e1")
    count = Expr("count", "count", (flagged,))
    enough = Expr("ge", "bool", (count, lit("count", "1")))
    items = [{"id": "a", "amount": Decimal(1), "flag": True},
             {"id": "b", "amount": Decimal(1), "flag": unknown("bool", "$.house.items[1].flag")}]
    out = partial({"count": count, "enough": enough}, {"items": items})
    assert out["enough"] is True and out["count"] is None
    assert out["_missing"] == {"$.house.items[1].flag"}


def test_an_enum_with_a_known_impossible_value_decides_equality():
    eq = Expr("eq", "bool", (h("kind", "enum:kind"), lit("enum:kind", "c")))
    kind = Unknown(frozenset({"$.house.kind"}), opts=frozenset({"a", "b"}))
    assert partial({"eq": eq}, {"kind": kind, "items": []})["eq"] is False


# ── soundness: random expressions, random facts left out, every completion checked ────────────────────────
MONEY = [Decimal(v) for v in ("0", "0.01", "99.99", "100", "250", "500", "759.99", "760", "1000")]


def money_exprs():
    leaves = st.one_of(st.sampled_from([h("x", "money/month"), h("y", "money/month")]),
                       st.sampled_from(MONEY).map(lambda v: lit("money/month", str(v))))
    return st.recursive(leaves, lambda sub: st.one_of(
        st.tuples(st.sampled_from(["add", "sub"]), sub, sub).map(lambda t: Expr(t[0], "money/month", t[1:])),
        st.tuples(sub, st.sampled_from(["2", "3"])).map(
            lambda t: Expr("mul", "money/month", (t[0], lit("count", t[1])))),
        st.tuples(st.sampled_from(["min", "max"]), sub, sub).map(lambda t: Expr(t[0], "money/month", t[1:])),
        st.tuples(bool_exprs_base(), sub, sub).map(lambda t: Expr("if", "money/month", t)),
        st.just(Expr("sum", "money/month", (ITEMS, item_field("amount", "money/month")), "e1")),
    ), max_leaves=6)


def bool_exprs_base():
    return st.sampled_from([h("p", "bool"), h("q", "bool"),
                            Expr("eq", "bool", (h("kind", "enum:kind"), lit("enum:kind", "a"))),
                            Expr("any", "bool", (ITEMS, item_field("flag", "bool")), "e1"),
                            Expr("le", "bool", (h("n", "count"), lit("count", "2")))])


def bool_exprs():
    return st.recursive(
        st.one_of(bool_exprs_base(), st.tuples(st.sampled_from(["lt", "le", "gt", "ge", "eq"]), money_exprs(),
                                               money_exprs()).map(lambda t: Expr(t[0], "bool", t[1:]))),
        lambda sub: st.one_of(st.tuples(st.sampled_from(["and", "or"]), sub, sub).map(
            lambda t: Expr(t[0], "bool", t[1:])), sub.map(lambda e: Expr("not", "bool", (e,)))),
        max_leaves=5)


def houses():
    item = st.fixed_dictionaries({"amount": st.sampled_from(MONEY), "flag": st.booleans()})
    return st.fixed_dictionaries({
        "x": st.sampled_from(MONEY), "y": st.sampled_from(MONEY), "n": st.integers(0, 6), "p": st.booleans(),
        "q": st.booleans(), "kind": st.sampled_from(["a", "b", "c"]), "items": st.lists(item, max_size=3)})


def compiled(exprs: dict[str, Expr]):
    m = module(exprs)
    namespace = dict(evaluator_module._RULE_GLOBALS, locality_name=lambda c: c)
    exec(compile(RulesCodegen(m).generate(), "<test>", "exec"), namespace)
    return namespace["evaluate"]


def with_ids(house: dict) -> dict:
    return dict(house, items=[dict(it, id=f"i{n}") for n, it in enumerate(house["items"])])


def hide(house: dict, hidden: list[str]) -> dict:
    """The same facts with some left out: `Unknown` values as the input converter makes them."""
    out = with_ids(house)
    bounds = {"n": (0, 6)}
    types = {"x": "money/month", "y": "money/month", "n": "count", "p": "bool", "q": "bool", "kind": "enum:kind"}
    for key in hidden:
        if key.startswith("items"):
            n, field = key[5:].split(".")
            if int(n) < len(out["items"]):
                t = "money/month" if field == "amount" else "bool"
                out["items"][int(n)][field] = fact(t, frozenset({f"$.house.items[{n}].{field}"}))
        else:
            lo, hi = bounds.get(key, (None, None))
            out[key] = fact(types[key], frozenset({f"$.house.{key}"}), lo, hi, ["a", "b", "c"])
    return out


HIDEABLE = ["x", "y", "n", "p", "q", "kind", "items0.amount", "items0.flag", "items1.flag", "items2.amount"]


@settings(max_examples=300, deadline=None)
@given(money=money_exprs(), cond=bool_exprs(), house=houses(), refills=st.lists(houses(), min_size=3, max_size=3),
       hidden=st.lists(st.sampled_from(HIDEABLE), unique=True, max_size=5))
def test_decided_results_hold_for_every_completion(money, cond, house, refills, hidden):
    exprs = {"money": money, "cond": cond}
    decided = partial(exprs, hide(house, hidden))
    run = compiled(exprs)
    for refill in [house] + refills:
        # fill the hidden facts from `refill`, keep the known ones of `house`
        complete = with_ids(house)
        for key in hidden:
            if key.startswith("items"):
                n, field = key[5:].split(".")
                if int(n) < len(complete["items"]) and int(n) < len(refill["items"]):
                    complete["items"][int(n)][field] = refill["items"][int(n)][field]
            else:
                complete[key] = refill[key]
        try:
            exact = run({"house": complete}, {}, DAY, "140000", None, None)[0]["t"]
        except ArithmeticError:
            continue
        for key in ("money", "cond"):
            if key not in decided["_undecided"]:
                assert decided[key] == exact[key], (key, hidden, decided[key], exact[key])
    # an undecided result names only facts that were left out
    paths = {f"$.house.items[{k[5]}].{k[7:]}" if k.startswith("items") else f"$.house.{k}" for k in hidden}
    assert decided["_missing"] <= paths
