"""The run's summary per program × locality: households eligible, undecided, and the monthly total, accumulated
chunk by chunk in DuckDB over the decision rows (what counts as eligibility and amount is `program_specs`,
shared with `policyc impact`: docs/impact.md "读哪些输出")."""
from __future__ import annotations

from decimal import Decimal

import duckdb
import pyarrow as pa

from ..review.impact_outcomes import program_specs
from . import sqltypes as T
from .sqlgen import _lit_text


class Summary:
    def __init__(self, evaluator, programs: list[str]):
        self.ev = evaluator
        module = evaluator.module
        specs = program_specs(module)
        self.programs = [(p, specs[p]) for p in programs]
        self.containers = {}
        for rid in module.records:
            paths = module.instance_paths(rid)
            if len(paths) == 1 and len(paths[0]) >= 2 and paths[0][-1][0] == "each":
                self.containers[rid] = paths[0][-2][1]
        self.totals: dict[tuple[str, str], list] = {}  # (program, locality) -> [rows, eligible, undecided, amount]
        self.con = duckdb.connect(config={"threads": 1})
        self._select = ", ".join(self._columns())

    def _value(self, pid: str, key: str, scope: str | None, fn: str) -> str:
        path = f"programs.{T.quote(pid)}" + "".join(f".{T.quote(k)}" for k in key.split("."))
        if scope is None:
            return path
        container = T.quote(self.containers[scope])
        inner = "m" + "".join(f".{T.quote(k)}" for k in key.split("."))
        return f"{fn}(list_transform(map_values(programs.{T.quote(pid)}.{container}), lambda m: {inner}))"

    def _columns(self) -> list[str]:
        cols = []
        for n, (pid, spec) in enumerate(self.programs):
            prog = f"programs.{T.quote(pid)}"
            if spec.referrals:
                elig = (f"len(list_filter(referrals, lambda r: r.program = {_lit_text(pid)} AND r.status = 'due')) > 0")
            else:
                elig = " OR ".join(f"coalesce({self._value(pid, k, s, 'list_bool_or')}, FALSE)"
                                   for k, s in spec.eligibility) or "FALSE"
            undecided = [f"len({prog}.undecided) > 0"]
            undecided += [f"coalesce(list_bool_or(list_transform(map_values({prog}.{T.quote(c)}), "
                          f"lambda m: len(m.undecided) > 0)), FALSE)"
                          for c in sorted({self.containers[s] for _, s in spec.amounts + spec.eligibility if s})]
            amounts = [f"coalesce({self._value(pid, k, s, 'list_sum')}, 0)" for k, s in spec.amounts]
            if spec.referral_amounts:
                ids = ", ".join(_lit_text(i) for i in sorted(spec.referral_amounts))
                amounts.append(f"coalesce(list_sum(list_transform(list_filter(referrals, lambda r: r.program = "
                               f"{_lit_text(pid)} AND r.item_id IN ({ids}) AND r.status = 'due'), lambda r: r.amount)), 0)")
            amount = " + ".join(amounts) if amounts and spec.monthly else "0"
            cols += [f"({elig}) AS e{n}", f"({' OR '.join(undecided)}) AS u{n}",
                     f"CAST({amount} AS DECIMAL(38,2)) AS a{n}"]
        return cols

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self.con.register("chunk", table)
        parts = []
        for n, _ in enumerate(self.programs):
            parts.append(f"count(*) FILTER (WHERE e{n} AND NOT u{n}), count(*) FILTER (WHERE u{n}), "
                         f"sum(a{n}) FILTER (WHERE NOT u{n})")
        rows = self.con.execute(f"SELECT locality, count(*), {', '.join(parts)} FROM (SELECT locality, "
                                f"{self._select} FROM chunk) GROUP BY locality").fetchall()
        self.con.unregister("chunk")
        for row in rows:
            loc, total = row[0], row[1]
            for n, (pid, _) in enumerate(self.programs):
                e, u, a = row[2 + 3 * n: 5 + 3 * n]
                acc = self.totals.setdefault((pid, loc), [0, 0, 0, Decimal(0)])
                acc[0] += total
                acc[1] += e
                acc[2] += u
                acc[3] += a or Decimal(0)

    def rows(self) -> list[dict]:
        """Per program, then locality code: rows, eligible, undecided, monthly total (元/月, None: no monthly amount)."""
        out = []
        order = {pid: i for i, (pid, _) in enumerate(self.programs)}
        for (pid, loc), (total, e, u, a) in sorted(self.totals.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
            spec = dict(self.programs)[pid]
            out.append({"program": pid, "program_name": spec.name, "locality": loc,
                        "locality_name": self.ev.jurisdictions.get(loc, {}).get("full_name", loc),
                        "households": total, "eligible": e, "undecided": u,
                        "monthly_total": a if spec.monthly else None})
        return out
