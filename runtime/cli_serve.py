"""`edgeport-run serve BUNDLE`: parse the service's options and limits, run the server.

It sits beside runtime/serve/, not in it: building `edgeport-run`'s parser imports no module of
`edgeport.runtime.serve` (tests/serve/test_serve_isolation.py); `cmd_serve` imports the service when it runs.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from edgeport.runtime.cli_types import positive


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the bundle until SIGTERM or Ctrl-C; 0 after a graceful shutdown."""
    from edgeport.runtime.serve.app import MB, ServeOptions
    from edgeport.runtime.serve.server import run_server

    options = ServeOptions(max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
                           api_key=args.api_key or os.environ.get("EDGEPORT_API_KEY") or None,
                           max_body_bytes=int(args.max_body_mb * MB), max_items=args.max_items,
                           max_pixels=int(args.max_megapixels * 1e6), max_bodies_bytes=int(args.max_bodies_mb * MB),
                           site=args.site)
    return run_server(args.bundle, variant=args.variant, threads=args.threads, backend=args.backend, host=args.host,
                      port=args.port, options=options, shutdown_timeout=args.shutdown_timeout,
                      log_level=args.log_level, access_log=args.access_log,
                      request_timeout=args.request_timeout, max_connections=args.max_connections,
                      trusted_root=args.trusted_root, reload_s=args.reload_s)


def add_serve_parser(commands: Any) -> None:
    serve = commands.add_parser("serve", help="serve a bundle over HTTP (JSON API, metrics, a page to try it)")
    serve.add_argument("bundle", help="bundle directory (with manifest.json)")
    serve.add_argument("--variant", help="artifact to load, e.g. tflite-int8 (default: the manifest's recommended one)")
    serve.add_argument("--threads", type=positive(int), help="engine threads (default: CPUs, at most 4)")
    serve.add_argument("--backend", help="force an engine: litert, tflite-runtime, tf-lite, onnxruntime")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    serve.add_argument("--max-batch", type=positive(int), default=32,
                       help="most items per engine call when requests are gathered (default 32; 1: no batching)")
    serve.add_argument("--max-wait-ms", type=positive(float), default=5.0,
                       help="longest a request waits for others to share its engine call (default 5)")
    serve.add_argument("--api-key", help="require this key (header 'Authorization: Bearer KEY' or 'X-API-Key') "
                       "on /v1/*; default $EDGEPORT_API_KEY, else none")
    serve.add_argument("--max-body-mb", type=positive(float), default=10.0, help="largest request body (default 10)")
    # Memory and connection bounds, sized for a 1 GB board (docs/serving.md: how to raise them).
    serve.add_argument("--max-items", type=positive(int), default=1024, help="most items per request (default 1024)")
    serve.add_argument("--max-megapixels", type=positive(float), default=40.0,
                       help="decoded image pixels in flight across requests, in millions (default 40)")
    serve.add_argument("--max-bodies-mb", type=positive(float), default=64.0,
                       help="request bodies in flight across requests (default 64)")
    serve.add_argument("--max-connections", type=positive(int), default=None,
                       help="open connections (default 256, or half the open-file limit when lower)")
    serve.add_argument("--request-timeout", type=positive(float), default=15.0, metavar="S",
                       help="close a connection that has not sent a whole request within S seconds (default 15)")
    serve.add_argument("--site", metavar="DIR", help="also serve a site from `edgeport-run web` at /web/, cross-origin "
                       "isolated (WebAssembly threads)")
    serve.add_argument("--shutdown-timeout", type=positive(float), default=10.0, metavar="S",
                       help="on SIGTERM, wait at most S seconds for requests in flight (default 10)")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.add_argument("--trusted-root", metavar="ROOT", help="serve only a bundle signed fleet metadata names "
                       "(the device's .BUNDLE.fleet/metadata/root.json)")
    serve.add_argument("--reload-s", type=positive(float), metavar="S",
                       help="every S seconds, serve the bundle anew when a pull swapped it (no request dropped)")
    serve.set_defaults(func=cmd_serve)
