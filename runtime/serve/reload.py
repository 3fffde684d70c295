"""`serve --reload-s S`: pick up a bundle that a pull (or a re-export) swapped in, without dropping requests.

Every S seconds the sha256 of the bundle's manifest.json is compared with the one being served. When it
changed, a new `Service` loads and warms up the new bundle beside the old one, which keeps answering
meanwhile; once the new one is ready, requests that arrive go to it, and the old one is stopped after
`DRAIN_S` seconds, when what it had begun is answered. A bundle that does not load (damaged, or not
signed where `--trusted-root` is given) is logged and not served; the old one stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool

from edgeport.runtime.api import Model
from edgeport.runtime.manifest import MANIFEST_NAME
from edgeport.runtime.serve.app import Service

log = logging.getLogger("uvicorn.error")
DRAIN_S = 30.0  # how long a replaced service keeps answering the requests it had begun
POLL_S = 0.01


def manifest_sha256(bundle: Path) -> str | None:
    """sha256 of the bundle's manifest.json; None while there is none (mid-swap or removed)."""
    try:
        return hashlib.sha256((bundle / MANIFEST_NAME).read_bytes()).hexdigest()
    except OSError:
        return None


def with_reload(app: Starlette, load: Callable[[], Model], bundle: str | Path, interval_s: float,
                drain_s: float = DRAIN_S) -> Starlette:
    """Make `app` (from `create_app`) reload `bundle` with `load()` whenever its manifest changes."""
    inner = app.router.lifespan_context
    bundle = Path(bundle)

    @asynccontextmanager
    async def lifespan(a: Starlette) -> Any:
        async with inner(a) as state:
            first = a.state.service
            retired: list[asyncio.Task] = []
            watcher = asyncio.get_running_loop().create_task(_watch(a, load, bundle, interval_s, drain_s, retired))
            try:
                yield state
            finally:
                watcher.cancel()
                for task in [watcher, *retired]:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                if a.state.service is not first:
                    await a.state.service.stop()

    app.router.lifespan_context = lifespan
    return app


async def _watch(app: Starlette, load: Callable[[], Model], bundle: Path, interval_s: float, drain_s: float,
                 retired: list[asyncio.Task]) -> None:
    served = await run_in_threadpool(manifest_sha256, bundle)
    while True:
        await asyncio.sleep(interval_s)
        current = await run_in_threadpool(manifest_sha256, bundle)
        if current is None or current == served:
            continue
        served = current  # a bundle that fails to load is not tried again until it changes
        old = await reload(app, load)
        if old is not None:
            retired.append(asyncio.get_running_loop().create_task(_retire(old, drain_s)))


async def reload(app: Starlette, load: Callable[[], Model]) -> Service | None:
    """Load a new service beside the one serving; switch to it once ready. Returns the replaced service
    (None when the new bundle did not load: the old one goes on serving)."""
    old: Service = app.state.service
    new = Service(load, old.options, old.metrics)
    new.start()
    while new.state == "loading":
        await asyncio.sleep(POLL_S)
    if not new.ready:
        log.error("edgeport: the swapped bundle is not served (the previous one stays): %s", new.error)
        await new.stop()
        return None
    app.state.service = new
    log.info("edgeport: now serving the swapped bundle (%s)", new.model.artifact.key)
    return old


async def _retire(service: Service, drain_s: float) -> None:
    await asyncio.sleep(drain_s)
    await service.stop()
