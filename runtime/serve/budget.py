"""A budget shared by all requests (decoded pixels, body bytes in flight): a request takes its share
before it allocates, waits a moment when the budget is spent, and is then refused with 503 and
`Retry-After` rather than allocated."""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

from edgeport.runtime.serve.inputs import RequestError

WAIT_S = 5.0  # how long a request waits for its share before it is refused
RETRY_AFTER_S = 1


class BudgetSpent(RequestError):
    """The shared budget stayed spent for `WAIT_S`: answer 503 with `Retry-After`."""

    def __init__(self, what: str, limit: int, option: str):
        super().__init__(503, f"the server is at its limit of {limit:,} {what} in flight across requests; try "
                              f"again in {RETRY_AFTER_S} s (the server's {option} sets the limit)", "Busy",
                         retry_after=RETRY_AFTER_S)


class Budget:
    """At most `limit` units held at once. Create it inside the running event loop."""

    def __init__(self, limit: int, what: str, option: str, wait_s: float = WAIT_S):
        if limit < 1:
            raise ValueError(f"a budget needs a positive limit, got {limit}")
        self.limit, self.what, self.option, self.wait_s = limit, what, option, wait_s
        self.used = 0
        self._changed = asyncio.Condition()

    async def take(self, units: int) -> int:
        """Take `units` (at most the whole budget: one item never waits for more than there is); the
        units taken, to `give` back. Raises `BudgetSpent` after waiting `wait_s` in vain."""
        units = max(0, min(units, self.limit))
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.used + units <= self.limit), self.wait_s)
            except asyncio.TimeoutError:
                raise BudgetSpent(self.what, self.limit, self.option) from None
            self.used += units
        return units

    async def give(self, units: int) -> None:
        async with self._changed:
            self.used -= units
            self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def holding(self, units: int) -> AsyncIterator[None]:
        taken = await self.take(units)
        try:
            yield
        finally:
            await self.give(taken)
