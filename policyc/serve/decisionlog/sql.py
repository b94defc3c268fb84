"""Statements: the SQL both backends send, written once for a placeholder style (? or %s) and a schema prefix."""
from __future__ import annotations

from .rows import COLUMNS


class Statements:
    """`insert`, `insert_programs`, `get` (entry by id), `count`, `version` (the schema version) and `select`."""

    def __init__(self, placeholder: str, prefix: str = ""):
        ph = self.ph = placeholder
        self.prefix = prefix
        self.insert = (f"INSERT INTO {prefix}decisions ({', '.join(COLUMNS)})"
                       f" VALUES ({', '.join([ph] * len(COLUMNS))})")
        self.insert_programs = (f"INSERT INTO {prefix}decision_programs (program, time, decision_id, eligible)"
                                f" VALUES ({ph}, {ph}, {ph}, {ph})")
        self.get = f"SELECT entry FROM {prefix}decisions WHERE decision_id = {ph}"
        self.count = f"SELECT count(*) FROM {prefix}decisions"
        self.version = f"SELECT value FROM {prefix}policyc_log_meta WHERE key = 'schema_version'"

    def select(self, since, until, locality, program, limit) -> tuple[str, list]:
        """The entries query: time order (then id), `since` inclusive, `until` exclusive, times as the driver
        stores them; by program through `decision_programs`."""
        ph, prefix = self.ph, self.prefix
        params, where = [], []
        if program is not None:
            sql = (f"SELECT d.entry FROM {prefix}decision_programs p JOIN {prefix}decisions d"
                   f" ON d.decision_id = p.decision_id")
            where.append(f"p.program = {ph}")
            params.append(program)
            tcol = "p.time"
            order = "p.time, p.decision_id"
        else:
            sql = f"SELECT d.entry FROM {prefix}decisions d"
            tcol = "d.time"
            order = "d.time, d.decision_id"
        if since is not None:
            where.append(f"{tcol} >= {ph}")
            params.append(since)
        if until is not None:
            where.append(f"{tcol} < {ph}")
            params.append(until)
        if locality is not None:
            where.append(f"d.locality = {ph}")
            params.append(locality)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return sql, params
