"""Request batching: preprocessed batches from concurrent requests gathered into one engine call.

A request waits at most `max_wait_ms` for others, and one call takes at most `max_batch` items (a
request larger than that runs alone). The wait ends early when no other request is on its way (read or
preprocessed under `coming()`): waiting then would only add latency. Engine calls run one at a time in
a worker thread, never on the event loop; requests that arrive meanwhile queue up and go together in
the next call. When a gathered call fails, each request is retried alone, so an input the model
refuses fails only its own request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

RunBatch = Callable[[np.ndarray], np.ndarray]
POLL_S = 0.0005  # how often a waiting call looks again whether requests are still on their way


@dataclass
class _Pending:
    x: np.ndarray
    future: asyncio.Future = field(repr=False)


class Batcher:
    """Gathers `submit`ted batches (arrays with the items on axis 0) into calls of `run`.

    `on_batch(items)` is told the size of every engine call and `on_queue(items)` the items waiting,
    for metrics. Start it inside the running event loop (`start`), stop it with `close`."""

    def __init__(self, run: RunBatch, max_batch: int = 32, max_wait_ms: float = 5.0,
                 on_batch: Callable[[int], None] | None = None, on_queue: Callable[[int], None] | None = None):
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError(f"max_batch must be >= 1 and max_wait_ms >= 0, got {max_batch}, {max_wait_ms}")
        self.run, self.max_batch, self.max_wait = run, max_batch, max_wait_ms / 1000.0
        self.on_batch = on_batch or (lambda n: None)
        self.on_queue = on_queue or (lambda n: None)
        self._queue: asyncio.Queue[_Pending] | None = None
        self._task: asyncio.Task | None = None
        self._waiting = 0
        self._coming = 0
        self._engine = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgeport-engine")

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        """Answer what is queued, then stop."""
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._engine.shutdown(wait=True)

    @contextlib.contextmanager
    def coming(self) -> Iterator[None]:
        """Mark a request as on its way (being read or preprocessed): calls wait for it, up to max_wait_ms."""
        self._coming += 1
        try:
            yield
        finally:
            self._coming -= 1

    async def submit(self, x: np.ndarray) -> np.ndarray:
        """The model's output rows for the items of `x`, computed with whatever else is waiting."""
        if self._task is None:
            raise RuntimeError("the batcher is not running")
        future = asyncio.get_running_loop().create_future()
        self._waiting += len(x)
        self.on_queue(self._waiting)
        self._queue.put_nowait(_Pending(x, future))
        return await future

    async def _loop(self) -> None:
        queue, carry = self._queue, None
        while True:
            first = carry if carry is not None else await queue.get()
            group, items, carry = [first], len(first.x), None
            if self.max_batch > 1:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + self.max_wait
                while items < self.max_batch:
                    if not queue.empty():
                        nxt = queue.get_nowait()
                    else:
                        left = deadline - loop.time()
                        if left <= 0 or not self._coming:
                            break
                        try:  # look again soon: the requests on their way may be refused before they come
                            nxt = await asyncio.wait_for(queue.get(), min(left, POLL_S))
                        except asyncio.TimeoutError:
                            continue
                    if items + len(nxt.x) > self.max_batch:
                        carry = nxt  # first of the next call
                        break
                    group.append(nxt)
                    items += len(nxt.x)
            await self._answer(group)
            for _ in group:
                queue.task_done()

    async def _answer(self, group: list[_Pending]) -> None:
        self._waiting -= sum(len(p.x) for p in group)
        self.on_queue(self._waiting)
        try:
            if len(group) == 1:
                outputs = [await self._call(group[0].x)]
            else:
                y = await self._call(np.concatenate([p.x for p in group]))
                bounds = np.cumsum([len(p.x) for p in group])[:-1]
                outputs = np.split(y, bounds)
        except Exception as exc:  # noqa: BLE001 — retried one request at a time below, or handed to the caller
            if len(group) == 1:
                _settle(group[0].future, error=exc)
                return
            for p in group:  # one bad request must not fail the others of its call
                try:
                    _settle(p.future, value=await self._call(p.x))
                except Exception as single:  # noqa: BLE001
                    _settle(p.future, error=single)
            return
        for p, y in zip(group, outputs):
            _settle(p.future, value=y)

    async def _call(self, x: np.ndarray) -> np.ndarray:
        self.on_batch(len(x))
        return await asyncio.get_running_loop().run_in_executor(self._engine, self.run, x)


def _settle(future: asyncio.Future, value: np.ndarray | None = None, error: BaseException | None = None) -> None:
    if future.done():  # the caller went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
