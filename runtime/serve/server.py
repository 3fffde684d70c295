"""Load the bundle, then serve it with uvicorn until SIGTERM or Ctrl-C.

The bundle is loaded before the port is bound, so a bundle that cannot load ends the command with
the runtime's message and a non-zero status. On SIGTERM uvicorn stops accepting connections, lets
the requests in flight finish (at most `shutdown_timeout` seconds), and the command exits 0.

Connections are bounded with uvicorn's own settings (`limit_concurrency`: 503 beyond it;
`timeout_keep_alive`; `backlog`, also how many connections one turn of the loop accepts; h11's
`max_incomplete_event_size` for the request head) and, where uvicorn has
none, by `connections.guarded_h11`: a deadline for each request's head and body and a cap on open
connections. For the open internet, put a reverse proxy in front (docs/serving.md).
"""

from __future__ import annotations

import signal

from edgeport import runtime
from edgeport.runtime.errors import EngineMissingError, UsageError
from edgeport.runtime.serve.app import ServeOptions, create_app
from edgeport.runtime.serve.connections import guarded_h11

KEEP_ALIVE_S = 5
MAX_HEAD_BYTES = 16 * 1024  # the request line and headers together


def default_max_connections() -> int:
    """256, or half the open-file limit where that is lower (a Pi's default limit is 1,024)."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 256
    return 256 if soft == resource.RLIM_INFINITY else max(8, min(256, soft // 2))


def run_server(bundle: str, *, variant: str | None = None, threads: int | None = None, backend: str | None = None,
               host: str = "127.0.0.1", port: int = 8080, options: ServeOptions = ServeOptions(),  # noqa: B008 — frozen
               shutdown_timeout: float = 10.0, log_level: str = "info", access_log: bool = False,
               request_timeout: float = 15.0, max_connections: int | None = None,
               trusted_root: str | None = None, reload_s: float | None = None) -> int:
    """Serve `bundle` on host:port; returns 0 after a graceful shutdown. A connection that has not sent
    a whole request within `request_timeout` seconds is closed; at most `max_connections` are open
    (default: `default_max_connections`). `trusted_root`: serve only a bundle signed fleet metadata names;
    `reload_s`: serve a swapped-in bundle (`serve.reload`)."""
    try:
        import uvicorn
    except ImportError:
        raise EngineMissingError("serving needs the serve extra: pip install 'edgeport[serve]'") from None

    def load() -> runtime.Model:
        return runtime.load(bundle, variant=variant, threads=threads, backend=backend, trusted_root=trusted_root)

    model = load()
    if model.preprocessor is None:
        raise UsageError(f"{bundle} is a bare model file: serve a bundle directory, which carries the preprocessing")
    if request_timeout <= 0:
        raise UsageError(f"--request-timeout must be more than 0 seconds, got {request_timeout}")
    connections = max_connections or default_max_connections()
    app = create_app(lambda: model, options)
    if reload_s is not None:
        from edgeport.runtime.serve.reload import with_reload

        app = with_reload(app, load, bundle, reload_s)
    config = uvicorn.Config(app, host=host, port=port, http=guarded_h11(request_timeout, connections), ws="none",
                            loop="asyncio", lifespan="on", log_level=log_level, access_log=access_log,
                            server_header=False, timeout_graceful_shutdown=shutdown_timeout,
                            limit_concurrency=connections + 1, timeout_keep_alive=KEEP_ALIVE_S,
                            backlog=max(16, min(2048, connections // 2)),  # fewer accepted per loop turn
                            h11_max_incomplete_event_size=MAX_HEAD_BYTES)
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again with the handler it found:
    # a no-op one makes a graceful stop exit 0 rather than die of the signal.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0 if server.started else 1
