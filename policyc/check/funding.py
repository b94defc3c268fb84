"""Funding plans (二(五)19): government purchase of services may not exceed a share of the special fund."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ..diagnostics import Reporter
from ..load.project import Jurisdiction
from ..load.yamlsrc import Located
from .constraints import _at
from .events import resolve_locality
from .params import Param

CAP_PARAM = "funding.purchase_cap_ratio"


def check_funding(files: list[Located], jurisdictions: list[Jurisdiction], params: dict[str, Param],
                  province: str, reporter: Reporter) -> list[dict]:
    cap = params.get(CAP_PARAM)
    plans = []
    for doc in files:
        for i, plan in enumerate(doc.data["plans"]):
            base = ("plans", i)
            code, others = resolve_locality(plan["locality"], jurisdictions)
            if code is None:
                reporter.add("E0803", doc.span(base + ("locality",)), locality=plan["locality"],
                             hint=f"可能是：{'、'.join(others)}" if others else None)
                continue
            if cap is None:
                reporter.add("E0804", doc.span(base), id=CAP_PARAM, hint="在参数文件中定义该参数")
                continue
            entry = _at(cap.timelines.get(province, []), dt.date(plan["year"], 12, 31))
            if entry is None:
                reporter.add("E0805", doc.span(base + ("year",)), id=CAP_PARAM, year=plan["year"])
                continue
            ratio = Decimal(entry.value) / 100
            total, purchase = Decimal(plan["special_fund_total"]), Decimal(plan["purchase_of_services"])
            limit = total * ratio
            if purchase > limit:
                reporter.add("E0806", doc.span(base + ("purchase_of_services",)), locality=code,
                             year=plan["year"], purchase=purchase, total=total, ratio=entry.value,
                             limit=limit.quantize(Decimal("0.01")))
            plans.append(dict(plan, locality=code, limit=limit, cap_ratio=entry.value,
                              defined_at=str(doc.span(base))))
    return plans
