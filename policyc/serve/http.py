"""uvicorn's HTTP/1.1 protocol with TCP_NODELAY set on every connection it accepts.

With `--workers N > 1` uvicorn makes the shared listening socket without naming IPPROTO_TCP, so asyncio does not
turn Nagle's algorithm off on accepted connections, and every response body waits for the client's delayed ACK
(~40 ms a request; uvicorn issue #3149, measured by benchmarks/bench_serve.py). Setting the option here is right
for every worker count.
"""
from __future__ import annotations

import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        super().connection_made(transport)
