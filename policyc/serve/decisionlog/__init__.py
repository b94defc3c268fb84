"""The decision log: every decision the service answered, with its request (personal fields masked), kept durably.

It is stored in SQLite (one file, shared by several worker processes) or PostgreSQL:

    log = open_log("sqlite:///var/lib/policyc/decisions.db")          # or "postgresql://user@host/db"
    entry = log.make_entry(decision_id=new_decision_id(), request=req, decision=dec, bundle=bundle)
    log.record([entry])                                               # returns once committed
    log.get(entry["decision_id"]); list(log.query(locality="140105", program="dibao"))

In the service, `AsyncLogWriter(log)` groups concurrent entries into one transaction (group commit) and lets each
request wait for its own entry's commit. JSON is stored as text, numbers exactly as given (Decimal("1234.50") is
stored as 1234.50 and read back as Decimal("1234.50")). See docs/decision-log.md.

The parts, in the order an entry passes through them:
    ids        decision ids (UUIDv7)                  times      moments as UTC and their stored text
    masking    Mask: personal fields by path          scrubbing  identity-card and mobile numbers anywhere
    exact      exact JSON text (Decimals, RawJSON)    entry      make_entry
    rows       an entry as the rows stored            sql        the SQL both backends send
    store      DecisionLog, the backends' base        sqlite     SQLiteLog
    postgres   PostgresLog                            pgconn     PostgreSQL connections and their pool
    opening    open_log: an address to a backend      writer     AsyncLogWriter (group commit)
    errors     DecisionLogError
"""
from .entry import canonical_request_sha256, make_entry
from .errors import DecisionLogError
from .exact import RawJSON, dumps_exact
from .ids import new_decision_id
from .masking import DEFAULT_MASK, MASK_TOKEN, Mask
from .opening import open_log
from .postgres import PostgresLog
from .sqlite import SQLiteLog
from .store import SCHEMA_VERSION, DecisionLog
from .writer import AsyncLogWriter

__all__ = [
    "AsyncLogWriter", "DEFAULT_MASK", "DecisionLog", "DecisionLogError", "MASK_TOKEN", "Mask", "PostgresLog",
    "RawJSON", "SCHEMA_VERSION", "SQLiteLog", "canonical_request_sha256", "dumps_exact", "make_entry",
    "new_decision_id", "open_log",
]
