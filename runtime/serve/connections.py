"""Connections under hostile clients: a deadline for each request's head and body, a cap on open
connections, and the log told once per interval, not once per attempt.

uvicorn bounds what it can (`limit_concurrency`, `timeout_keep_alive`, h11's `max_incomplete_event_size`
for the head's size, set in `server`), but has no deadline for a request that is sent slowly or never
finished, and keeps every connection it accepts: 1,100 clients that send one header and stop hold 1,100
file descriptors until none is left for `/healthz`. `guarded_h11` is uvicorn's own h11 protocol with
those two bounds added: a connection still sending its request after `request_timeout_s` is closed, and
when `max_connections` are open, a new one closes the oldest connection still sending its request (the
new one is closed instead when every open connection has a request in hand).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("uvicorn.error")
LOG_INTERVAL_S = 60.0
SENDING = (h11.IDLE, h11.SEND_BODY)  # the client's states while its request is not all here


class EveryInterval:
    """Log a recurring event at most once per `interval_s`, with how often it happened meanwhile."""

    def __init__(self, message: str, interval_s: float = LOG_INTERVAL_S, level: int = logging.WARNING):
        self.message, self.interval, self.level = message, interval_s, level
        self.count, self.last = 0, float("-inf")

    def __call__(self, *args: Any) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= self.interval:
            log.log(self.level, f"edgeport: {self.message} ({self.count} times since the last report; "
                                f"reported at most once per {self.interval:g} s)", *args)
            self.count, self.last = 0, now


def guarded_h11(request_timeout_s: float, max_connections: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol class with a request deadline and a connection cap (pass as `http=`)."""
    if request_timeout_s <= 0 or max_connections < 1:
        raise ValueError(f"request_timeout_s must be > 0 and max_connections >= 1, got "
                         f"{request_timeout_s}, {max_connections}")
    sending: dict[GuardedH11, None] = {}  # connections whose request is not all here, oldest first
    timed_out = EveryInterval("closed connections that did not send a whole request within "
                              f"{request_timeout_s:g} s")
    evicted = EveryInterval(f"{max_connections} connections were open: closed the oldest still sending "
                            "its request, for a new one")
    refused = EveryInterval(f"{max_connections} connections were open, each with a request in hand: "
                            "refused a new one")

    class GuardedH11(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                oldest = next((c for c in sending if c is not self), None)
                if oldest is None:
                    refused()
                    self._close()
                    return
                evicted()
                oldest._close()
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._deadline is None and self.conn.their_state is h11.IDLE:
                self._arm()  # the next request on a kept-alive connection
            super().data_received(data)
            if self.conn.their_state not in SENDING:
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(request_timeout_s, self._expired)
            sending[self] = None

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None
            sending.pop(self, None)

        def _expired(self) -> None:
            self._deadline = None
            if self.conn.their_state in SENDING:
                timed_out()
                self._close()
            else:
                sending.pop(self, None)

        def _close(self) -> None:
            self._disarm()
            self.connections.discard(self)  # counted out now, not when the loop reports it lost
            if not self.transport.is_closing():
                self.transport.close()

    return GuardedH11


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Where file descriptors run out, asyncio logs every failed `accept()` with a traceback (126,321 in
    15 s were measured): report those once per interval instead; anything else as before."""
    out_of_resources = EveryInterval("socket.accept() failed: out of file descriptors or memory; new "
                                     "connections wait in the backlog (raise `ulimit -n` or lower --max-connections)")
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if "out of system resource" in str(context.get("message", "")):
            out_of_resources()
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
