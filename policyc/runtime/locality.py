"""Finding a locality by 6-digit code, full name (太原市小店区), or unique short name (小店区, 太原)."""
from __future__ import annotations

import difflib

_SUFFIXES = ("市", "区", "县")


def short_name(name: str) -> str | None:
    """太原市 → 太原, 小店区 → 小店; None when nothing would be left or nothing to strip."""
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return None


class LocalityIndex:
    def __init__(self, jurisdictions: list[dict]):
        self.by_code = {j["code"]: j for j in jurisdictions}
        self.names: dict[str, list[str]] = {}
        for j in jurisdictions:
            for name in {j["name"], j["full_name"], short_name(j["name"]), short_name(j["full_name"])} - {None}:
                codes = self.names.setdefault(name, [])
                if j["code"] not in codes:
                    codes.append(j["code"])

    def resolve(self, value) -> tuple[str | None, list[str]]:
        """(code, []) when found; (None, candidates) when ambiguous; (None, suggestions) when unknown."""
        text = str(value).strip()
        if text in self.by_code:
            return text, []
        codes = self.names.get(text, [])
        if len(codes) == 1:
            return codes[0], []
        if codes:
            return None, [f"{self.by_code[c]['full_name']}（{c}）" for c in codes]
        close = difflib.get_close_matches(text, list(self.names), n=3, cutoff=0.5)
        return None, [f"{self.by_code[self.names[n][0]]['full_name']}" if len(self.names[n]) == 1 else n
                      for n in close]

    def is_ambiguous(self, value) -> bool:
        return len(self.names.get(str(value).strip(), [])) > 1

    def chain(self, code: str) -> list[str]:
        out = []
        while code:
            out.append(code)
            code = self.by_code[code]["parent"]
        return out
