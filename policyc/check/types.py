"""Units and types as policy officers write them, and how the checker names them back."""
from __future__ import annotations

from ..ir import strip_optional

UNIT_TYPES = {
    "元/月": "money/month", "元/年": "money/year", "元": "money",
    "倍": "ratio", "%": "percent", "月": "months", "个月": "months", "年": "years", "岁": "age", "人": "count",
    "整数": "int", "数": "number",
}
SIMPLE_TYPES = {"int": "int", "number": "number", "date": "date", "bool": "bool", "text": "text",
                "locality": "locality"}
_NAMES = {
    "money/month": "元/月", "money/year": "元/年", "money": "元", "ratio": "倍", "percent": "%",
    "months": "月", "years": "年", "age": "岁", "count": "人", "int": "整数", "number": "数",
    "date": "日期", "bool": "是否", "text": "文本", "locality": "地区", "null": "无",
}


def type_name(t: str, enums=None, records=None) -> str:
    """A type in the words of the rule language: 元/月, 列表<家庭成员>, 日期? …"""
    if t.startswith("opt:"):
        return type_name(t[4:], enums, records) + "?"
    if t.startswith("list:"):
        return f"列表<{type_name(t[5:], enums, records)}>"
    if t.startswith("enum:"):
        e = (enums or {}).get(t[5:])
        return e.name if e else t[5:]
    if t.startswith("record:"):
        r = (records or {}).get(t[7:])
        return r.name if r else t[7:]
    if t.startswith("table:"):
        return "表格"
    return _NAMES.get(t, t)


def unit_of(t: str) -> str | None:
    """The display unit of a type (for traces and documents), or None."""
    t = strip_optional(t)
    return _NAMES.get(t) if t in UNIT_TYPES.values() and t not in ("int", "number") else None
