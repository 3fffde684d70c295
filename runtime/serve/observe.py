"""ASGI middleware around the app: metrics for every request, and the body limits enforced as the body
arrives (each body's, and the bytes of all bodies in flight)."""

from __future__ import annotations

import time
from typing import Any, Callable

from edgeport.runtime.serve.budget import Budget
from edgeport.runtime.serve.inputs import BodyTooLarge
from edgeport.runtime.serve.metrics import Metrics


class Observe:
    """ASGI middleware: metrics for every request, and the body limits enforced as the body arrives: each
    body's, and the bytes of all bodies in flight (taken from `bodies` as they arrive, given back when the
    request is answered)."""

    def __init__(self, app: Any, metrics: Metrics, max_body_bytes: int, max_bodies_bytes: int):
        self.app, self.metrics, self.limit, self.bodies_limit = app, metrics, max_body_bytes, max_bodies_bytes
        self.bodies: Budget | None = None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status, received, held = time.perf_counter(), [500], [0], [0]
        if self.bodies is None:
            self.bodies = Budget(max(self.bodies_limit, 1), "body bytes", "--max-bodies-mb")

        async def counted_receive() -> dict:
            message = await receive()
            if message["type"] == "http.request":
                size = len(message.get("body", b""))
                received[0] += size
                if received[0] > self.limit:
                    raise BodyTooLarge(self.limit)
                held[0] += await self.bodies.take(size)
            return message

        async def observed_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, counted_receive, observed_send)
        finally:
            if held[0]:
                await self.bodies.give(held[0])
            self.metrics.observe(scope["path"], status[0], time.perf_counter() - start)
