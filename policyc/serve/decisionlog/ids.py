"""Decision ids: UUIDv7 text that sorts by time and never repeats within a process."""
from __future__ import annotations

import secrets
import threading
import time

_LOCK = threading.Lock()
_STATE = [0, 0]  # last milliseconds, last counter


def new_decision_id() -> str:
    """A UUIDv7 (RFC 9562) as lowercase hex with hyphens: 48 bits of Unix milliseconds, a 12-bit counter that keeps
    ids from one process strictly increasing within a millisecond (method 1), 62 random bits. Ids sort by time
    as text; they are safe in URLs and file names."""
    with _LOCK:
        ms = time.time_ns() // 1_000_000
        last_ms, counter = _STATE
        if ms > last_ms:
            counter = secrets.randbits(11)  # leave room to count up within the millisecond
        else:  # same millisecond, or the clock went back: stay monotonic
            ms, counter = last_ms, counter + 1
            if counter > 0xFFF:
                ms, counter = ms + 1, secrets.randbits(11)
        _STATE[0], _STATE[1] = ms, counter
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | secrets.randbits(62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
