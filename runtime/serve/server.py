"""Load the bundle, then serve it with uvicorn until SIGTERM or Ctrl-C.

The bundle is loaded before the port is bound, so a bundle that cannot load ends the command with
the runtime's message and a non-zero status. On SIGTERM uvicorn stops accepting connections, lets
the requests in flight finish (at most `shutdown_timeout` seconds), and the command exits 0.
"""

from __future__ import annotations

import signal

from edgeport import runtime
from edgeport.runtime.errors import EngineMissingError, UsageError
from edgeport.runtime.serve.app import ServeOptions, create_app


def run_server(bundle: str, *, variant: str | None = None, threads: int | None = None, backend: str | None = None,
               host: str = "127.0.0.1", port: int = 8080, options: ServeOptions = ServeOptions(),  # noqa: B008 — frozen
               shutdown_timeout: float = 10.0, log_level: str = "info", access_log: bool = False,
               trusted_root: str | None = None, reload_s: float | None = None) -> int:
    """Serve `bundle` on host:port; returns 0 after a graceful shutdown. `trusted_root`: serve only a bundle
    signed fleet metadata names; `reload_s`: serve a swapped-in bundle (`serve.reload`)."""
    try:
        import uvicorn
    except ImportError:
        raise EngineMissingError("serving needs the serve extra: pip install 'edgeport[serve]'") from None

    def load() -> runtime.Model:
        return runtime.load(bundle, variant=variant, threads=threads, backend=backend, trusted_root=trusted_root)

    model = load()
    if model.preprocessor is None:
        raise UsageError(f"{bundle} is a bare model file: serve a bundle directory, which carries the preprocessing")
    app = create_app(lambda: model, options)
    if reload_s is not None:
        from edgeport.runtime.serve.reload import with_reload

        app = with_reload(app, load, bundle, reload_s)
    config = uvicorn.Config(app, host=host, port=port, http="h11", ws="none",
                            loop="asyncio", lifespan="on", log_level=log_level, access_log=access_log,
                            server_header=False, timeout_graceful_shutdown=shutdown_timeout)
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again with the handler it found:
    # a no-op one makes a graceful stop exit 0 rather than die of the signal.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0 if server.started else 1
