"""Identity-card and mobile numbers, wherever they stand in an entry, replaced by numbered tokens ("***1", …)."""
from __future__ import annotations

import re

from .masking import MASK_TOKEN

# Identity-card and mobile numbers are masked wherever they appear, in the request and the decision alike: a
# caller that keys members by 身份证号 would otherwise write them into every decision's member lists and reasons.
# Each distinct number becomes "***1", "***2", … (numbered within the entry, the same in request and decision).
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{17}[0-9Xx]|1[3-9]\d{9})(?![0-9A-Za-z])")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_DIGIT_RUN = re.compile(r"\d{11}")


def _is_identifier(text: str) -> bool:
    if len(text) == 11:
        return True  # a mainland mobile number
    total = sum(int(c) * w for c, w in zip(text[:17], _ID_WEIGHTS))
    return "10X98765432"[total % 11] == text[17].upper()  # checksum: an 18-digit amount or code is left alone


def _has_digit_run(s: str) -> bool:
    return len(s) >= 11 and _DIGIT_RUN.search(s) is not None


def has_identifier(text: str) -> bool:
    """Whether the text holds an identity-card number (with a valid checksum) or a mobile number."""
    return any(_is_identifier(m.group(1)) for m in _ID_NUMBER.finditer(text))


class Scrubber:
    """Replaces the numbers in strings and keys of a JSON value; `tokens` maps each number found to its token, so
    one Scrubber gives a number the same token in the request and in the decision."""

    def __init__(self):
        self.tokens: dict[str, str] = {}

    def _sub(self, m):
        text = m.group(1)
        if not _is_identifier(text):
            return text
        token = self.tokens.get(text)
        if token is None:
            token = self.tokens[text] = f"{MASK_TOKEN}{len(self.tokens) + 1}"
        return token

    def text(self, s: str) -> str:
        return _ID_NUMBER.sub(self._sub, s) if _has_digit_run(s) else s

    def walk(self, value):
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k): self.walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(v) for v in value]
        return value
