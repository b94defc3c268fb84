"""The evaluator generator: exact arithmetic in the Python it writes, and outputs kept to the fen."""
from decimal import Decimal

from policyc.ir import Definition, Expr, Module
from policyc.runtime.codegen_rules import RulesCodegen
from policyc.runtime.evaluator import _RULE_GLOBALS


def lit(value, t="number"):
    return Expr("lit", t, value=str(value))


def run(expr: Expr):
    gen = RulesCodegen(Module({}, {}, [], [], [], {}))
    src = gen.expr(expr)
    namespace = dict(_RULE_GLOBALS)
    exec("\n".join(gen.const_src), namespace)
    return eval(src, namespace)


def test_dividing_whole_numbers_is_exact_decimal_not_float():
    value = run(Expr("div", "number", (lit(1), lit(3))))
    assert isinstance(value, Decimal) and value == Decimal(1) / Decimal(3)


def test_money_times_ratio_is_decimal():
    assert run(Expr("mul", "money/month", (lit("760", "money/month"), lit("1.3", "ratio")))) == Decimal("988.0")


def test_only_values_that_can_leave_the_fen_are_rounded_on_output():
    money = lit("760", "money/month")
    gen = RulesCodegen(Module({}, {}, [], [Definition("d", "d", "value", "money/month", money, None)], [], {}))
    assert gen.in_fen(Expr("add", "money/month", (money, Expr("param", "money/month", value="p"))))
    assert gen.in_fen(Expr("mul", "money/month", (money, Expr("lit", "count", value="3"))))
    assert not gen.in_fen(Expr("mul", "money/month", (money, lit("1.3", "ratio"))))
    assert not gen.in_fen(Expr("div", "money/month", (money, Expr("lit", "count", value="3"))))
    assert gen.in_fen(Expr("def", "money/month", value="d"))
