"""to_row: an entry as the rows both backends store (its `decisions` row and one `decision_programs` row a program)."""
from __future__ import annotations

from typing import Callable, NamedTuple

from .errors import DecisionLogError
from .exact import RawJSON, decision_text, dumps_exact
from .times import time_text, utc


class Row(NamedTuple):
    """The first nine fields are the `decisions` table's columns, in order."""
    decision_id: str
    time: str  # fixed-width UTC text (times.time_text)
    locality: str | None
    date: str | None
    bundle_id: str | None
    bundle_version: str | None
    bundle_sha256: str | None
    request_sha256: str
    entry: str  # the entry's exact JSON text
    programs: list  # (program id, eligible: True, False or None), sorted by id

    def table_values(self, time: Callable) -> tuple:
        """The `decisions` values, the time as `time` makes it for the driver."""
        return (self.decision_id, time(self.time)) + self[2:9]

    def program_values(self, time: Callable, eligible: Callable) -> list[tuple]:
        """The `decision_programs` values (program, time, decision_id, eligible), converted for the driver."""
        when = time(self.time)
        return [(p, when, self.decision_id, eligible(e)) for p, e in self.programs]


COLUMNS = Row._fields[:9]
_REQUIRED = ("decision_id", "time", "request_sha256", "request", "decision")


def to_row(entry: dict) -> Row:
    if not isinstance(entry, dict) or any(k not in entry for k in _REQUIRED):
        raise DecisionLogError("L0005", "决策日志条目不完整：请用 make_entry 生成")
    when = time_text(utc(entry["time"]))
    if when != entry["time"]:
        entry = {**entry, "time": when}
    eligible = entry.get("eligible") if isinstance(entry.get("eligible"), dict) else {}
    prog_rows = [(p, eligible.get(p) if isinstance(eligible.get(p), bool) else None)
                 for p in sorted({p for p in entry.get("programs") or () if isinstance(p, str)})]
    bundle = entry.get("bundle") if isinstance(entry.get("bundle"), dict) else {}
    if isinstance(entry["decision"], dict):
        entry = {**entry, "decision": RawJSON(decision_text(entry["decision"]))}
    return Row(entry["decision_id"], when, entry.get("locality"), entry.get("date"), bundle.get("id"),
               bundle.get("version"), bundle.get("sha256"), entry["request_sha256"], dumps_exact(entry), prog_rows)
