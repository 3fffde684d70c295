"""`edgeport-run serve`: a bundle behind a small HTTP service (Starlette on uvicorn), with request
batching, an API key, limits, Prometheus metrics and a page to try the model. A tool beside the
runtime's core; the core never imports it. Needs the `serve` extra.

`app` holds the routes, `inputs` reads request bodies, `batching` gathers requests into engine calls,
`metrics` the Prometheus registry, `pipeline` runs a request's items in bounded pieces, `budget` shares
memory across requests, `connections` bounds connections, `server` loads the bundle and runs uvicorn.
tools/loadtest.py and tools/serve_memory.py measure it.
"""
