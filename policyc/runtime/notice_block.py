"""The `notice` block of a request: who issues the 告知书 of its decision (承办机关, 文号, 日期, 复议机关).

It is not a fact: no rule reads it, it is not in the decision, and it changes no result. The runtime only checks its
shape, so a service refuses a malformed block as it refuses a malformed fact, and `policyc eval --notice` renders
it (docs/notice.md). The request JSON Schema (emit/schemas.py) is built from the same FIELDS."""
from __future__ import annotations

from .inputs import MISSING, _where, date, text

KEY = "notice"

# field → (中文名, type): every field optional; text is 1–200 printable characters, a date YYYY-MM-DD
FIELDS = {
    "issuer": ("承办机关", "text"),
    "doc_number": ("文号", "text"),
    "issued": ("告知日期", "date"),
    "review_body": ("复议机关", "text"),
}


def check(value, errs) -> dict:
    """The block's fields as given (dates as datetime.date), each problem appended to `errs` as (path, message)."""
    where = _where("$", KEY)
    if value is None:
        return {}
    if type(value) is not dict:
        errs.append((where, f"应为对象（{{…}}），实际为 {type(value).__name__}"))
        return {}
    out = {}
    for key, (_, kind) in FIELDS.items():
        convert = date if kind == "date" else text
        x = convert(value.get(key, MISSING), where, key, errs, "none")
        if x is not None:
            out[key] = x
    for key in sorted(set(value) - set(FIELDS), key=str):
        errs.append((_where(where, key), "未知字段（请检查拼写）"))
    return out
