"""`edgeport-run serve BUNDLE --site DIR`: a static site from `edgeport-run web` at /web/, cross-origin
isolated (COOP/COEP on every response), so the page may use WebAssembly threads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from edgeport.runtime.errors import UsageError

ISOLATION_HEADERS = ((b"cross-origin-opener-policy", b"same-origin"), (b"cross-origin-embedder-policy", b"require-corp"))


class Isolated:
    """An ASGI app that adds the cross-origin isolation headers to every response of the app it wraps."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        async def send_isolated(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *ISOLATION_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_isolated)


def site_mount(folder: str | Path) -> Mount:
    """The route serving `folder` (a site `edgeport-run web` wrote) at /web/."""
    if not (Path(folder) / "site.json").is_file():
        raise UsageError(f"{folder} is not a site (no site.json): write one with edgeport-run web BUNDLE --out {folder}")
    return Mount("/web", app=Isolated(StaticFiles(directory=str(folder), html=True)), name="web")
