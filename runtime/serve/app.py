"""The ASGI app (Starlette): routes, the API key, the body limit, errors as JSON, metrics.

    POST /v1/predict   {"inputs": [...]} (or image files as multipart/form-data) → predictions in input order
    GET  /v1/info      what `Model.info()` returns
    GET  /healthz      200 once the model is loaded and answered a warm-up, else 503
    GET  /metrics      Prometheus text
    GET  /             a page to try the model

The model is loaded and warmed up in a worker thread when the app starts (503 until then); predictions
go through the `Batcher` in pieces of at most `max_batch` items (`pipeline`). Memory is bounded by
construction: `max_items` per request (413), decoded pixels and body bytes in flight across requests
(`budget`: 503 with Retry-After). Every error is JSON `{"error": TYPE, "message": ...}`, never a traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import importlib.resources
import json
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from edgeport.runtime import errors
from edgeport.runtime.api import Model
from edgeport.runtime.serve.batching import Batcher
from edgeport.runtime.serve.budget import Budget
from edgeport.runtime.serve.connections import quiet_accept_errors
from edgeport.runtime.serve.inputs import BodyTooLarge, RequestError, read_items
from edgeport.runtime.serve.metrics import Metrics
from edgeport.runtime.serve.observe import Observe
from edgeport.runtime.serve.pipeline import predict_items

log = logging.getLogger("uvicorn.error")
MB = 1 << 20


@dataclass(frozen=True)
class ServeOptions:
    """How the app batches and what it accepts; the defaults are sized for a board with 1 GB of memory."""

    max_batch: int = 32
    max_wait_ms: float = 5.0
    api_key: str | None = None
    max_body_bytes: int = 10 * MB
    max_items: int = 1024  # per request
    max_pixels: int = 40_000_000  # decoded image pixels in flight across requests (about 120 MB of RGB)
    max_bodies_bytes: int = 64 * MB  # request bodies in flight across requests
    site: str | None = None  # a folder from `edgeport-run web`, served at /web/ (runtime.serve.site)


class Service:
    """The model behind the app: loading → ready (or failed), and its batcher."""

    def __init__(self, load: Callable[[], Model], options: ServeOptions, metrics: Metrics):
        self.load, self.options, self.metrics = load, options, metrics
        self.model: Model | None = None
        self.batcher: Batcher | None = None
        self.pixels: Budget | None = None
        self.state, self.error = "loading", None
        self._task: asyncio.Task | None = None

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def start(self) -> None:
        self.pixels = Budget(max(self.options.max_pixels, 1), "decoded pixels", "--max-megapixels")
        self._task = asyncio.get_running_loop().create_task(self._prepare())

    async def _prepare(self) -> None:
        try:
            model = await run_in_threadpool(self.load)
            if model.preprocessor is None or model.manifest is None:
                raise errors.UsageError(f"{model.path} is a bare model file: serve a bundle directory, "
                                        "which carries the preprocessing")
            independent = await run_in_threadpool(rows_independent, model)
        except Exception as exc:  # noqa: BLE001 — reported by /healthz and in the log
            self.state, self.error = "failed", str(exc) or type(exc).__name__
            log.error("edgeport: the model did not load: %s", self.error)
            return
        self.model = model
        max_batch = self.options.max_batch
        if not independent and max_batch > 1:
            max_batch = 1
            log.warning("edgeport: %s answers a row differently in company (activations quantised per batch): "
                        "requests are not gathered into shared engine calls", model.artifact.key)
        self.batcher = Batcher(model.predict_tensor, max_batch, self.options.max_wait_ms,
                               on_batch=self.metrics.batch_size.observe, on_queue=self.metrics.queue_depth.set)
        self.batcher.start()
        self.state = "ready"
        log.info("edgeport: %s ready (%s on %s, batches of up to %d items, %g ms wait)", model.manifest.task,
                 model.artifact.key, model.engine.name, max_batch, self.options.max_wait_ms)

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self.batcher is not None:
            await self.batcher.close()

    async def predict(self, request: Request) -> np.ndarray:
        """The request's raw items → probabilities, in pieces of at most max_batch items (`pipeline`)."""
        model = self.model
        with self.batcher.coming():
            items = await read_items(request, model.manifest.kind, self.options.max_items)
        return await predict_items(model, items, self.batcher, self.options.max_batch, self.pixels)


def warmup_items(model: Model) -> list[Any]:
    """Two very different inputs: a short text and a long one, or a grey image and a noisy one."""
    if model.manifest.kind == "text":
        return ["warm up", " ".join(list(model.preprocessor.vocabulary)[:1000])]
    height, width = model.preprocessor.size
    noise = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return [np.full((height, width, 3), 128, dtype=np.uint8), noise]


def rows_independent(model: Model) -> bool:
    """The warm-up: whether a row gets the same answer alone as in company. Not so where activations are
    quantised per batch (onnxruntime's dynamic int8): there, gathering requests would change answers."""
    x = model.preprocessor(warmup_items(model))
    alone, together = model.predict_tensor(x[:1]), model.predict_tensor(x)
    if isinstance(alone, dict):
        return all(np.allclose(alone[k][0], together[k][0], rtol=0, atol=1e-6) for k in alone)
    return bool(np.allclose(alone[0], together[0], rtol=0, atol=1e-6))


def prediction_rows(model: Model, probabilities: np.ndarray) -> list[dict[str, Any]]:
    """One {"label", "score", "probabilities": {label: p}} per row (a sigmoid unit as two classes)."""
    rows = []
    for row, (label, score) in zip(probabilities, model.labels_of(probabilities)):
        values = [1.0 - float(row[0]), float(row[0])] if row.shape[0] == 1 else row.tolist()
        rows.append({"label": label, "score": score, "probabilities": dict(zip(model.labels, values))})
    return rows


def error_response(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": kind, "message": message}, status_code=status)


def status_of(exc: Exception) -> int:
    """422 for input the model refuses, 500 for anything else."""
    return 422 if isinstance(exc, (errors.InputError, errors.UsageError)) else 500


# ---------------------------------------------------------------- routes


def _service(request: Request) -> Service:
    return request.app.state.service


def _authorized(request: Request, key: str | None) -> bool:
    if key is None:
        return True
    given = request.headers.get("x-api-key")
    if given is None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else ""
    return hmac.compare_digest(given.encode("utf-8"), key.encode("utf-8"))


def _refusal(request: Request, service: Service) -> JSONResponse | None:
    """401 without the API key, 503 before the model is ready."""
    if not _authorized(request, service.options.api_key):
        return error_response(401, "Unauthorized", "this server needs an API key: send the header "
                              "'Authorization: Bearer KEY' or 'X-API-Key: KEY'")
    if not service.ready:
        return _not_ready(service)
    return None


def _not_ready(service: Service) -> JSONResponse:
    if service.state == "failed":
        return error_response(503, "ModelFailed", f"the model did not load: {service.error}")
    return error_response(503, "Loading", "the model is loading; try again in a moment (GET /healthz says when)")


async def predict(request: Request) -> Response:
    service = _service(request)
    refused = _refusal(request, service)
    if refused is not None:
        return refused
    limit = service.options.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return _request_error(BodyTooLarge(limit))
    model = service.model
    try:
        probabilities = await service.predict(request)
    except RequestError as exc:
        return _request_error(exc)
    except errors.EdgeportError as exc:
        return error_response(status_of(exc), type(exc).__name__, str(exc))
    except Exception as exc:  # noqa: BLE001 — answered as JSON; the log has the type and message
        log.error("edgeport: predict failed: %s: %s", type(exc).__name__, exc)
        return error_response(500, "InternalError", "the server failed while answering; see its log")
    service.metrics.predicted.inc(len(probabilities))
    return JSONResponse({"model": model.manifest.task, "variant": model.artifact.key,
                         "predictions": prediction_rows(model, probabilities)})


def _request_error(exc: RequestError) -> JSONResponse:
    response = error_response(exc.status, exc.kind, exc.message)
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def info(request: Request) -> Response:
    service = _service(request)
    refused = _refusal(request, service)
    if refused is not None:
        return refused
    body = json.dumps(service.model.info(), default=str)
    return Response(body, media_type="application/json")


async def healthz(request: Request) -> Response:
    service = _service(request)
    if service.ready:
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": service.state, **({"error": service.error} if service.error else {})},
                        status_code=503)


async def metrics(request: Request) -> Response:
    return Response(_service(request).metrics.render(), media_type=Metrics.content_type)


async def page(request: Request) -> Response:
    service = _service(request)
    model = service.model
    about = {"ready": service.ready, "key": service.options.api_key is not None}
    if model is not None:
        about.update(task=model.manifest.task, kind=model.manifest.kind, variant=model.artifact.key,
                     labels=model.labels)
    html = PAGE.replace("__MODEL__", json.dumps(about).replace("<", "\\u003c"))
    return HTMLResponse(html)


PAGE = importlib.resources.files("edgeport.runtime.serve").joinpath("page.html").read_text(encoding="utf-8")


async def _http_error(request: Request, exc: HTTPException) -> Response:
    kind = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "HTTPError")
    return error_response(exc.status_code, kind, f"{request.method} {request.url.path}: {exc.detail}")


async def _refused_request(request: Request, exc: RequestError) -> Response:
    return _request_error(exc)


# ---------------------------------------------------------------- the app


def create_app(load: Callable[[], Model], options: ServeOptions | None = None) -> Starlette:
    """The service for the model `load()` returns (called in a worker thread when the app starts)."""
    options = options or ServeOptions()
    registry = Metrics()
    service = Service(load, options, registry)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        quiet_accept_errors(asyncio.get_running_loop())
        service.start()
        yield
        await service.stop()

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/v1/predict", predict, methods=["POST"]),
        Route("/v1/info", info, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    if options.site:
        from edgeport.runtime.serve.site import site_mount

        routes.append(site_mount(options.site))
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(Observe, metrics=registry, max_body_bytes=options.max_body_bytes,
                                           max_bodies_bytes=options.max_bodies_bytes)],
                    exception_handlers={HTTPException: _http_error, RequestError: _refused_request})
    app.state.service = service
    return app
