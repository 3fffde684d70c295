"""A predict request's body → the raw items the runtime takes (texts, or image file bytes).

Text bundles take JSON `{"inputs": ["a great film", ...]}`; image bundles take JSON
`{"inputs": [{"b64": "..."}, ...]}` or multipart/form-data files (any field name, in order).
Whatever is malformed raises `RequestError` with the HTTP status to answer: 400 for JSON that is not
JSON, nested deeper than json's recursion bound or holding a number Python will not convert, 413 for
more than `max_items` items. JSON is parsed in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Any, AsyncIterator

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartParser
from starlette.requests import Request


JSON_TYPE, FORM_TYPE = "application/json", "multipart/form-data"


class RequestError(Exception):
    """A request the service refuses before the model sees it: `status` and a message saying why."""

    def __init__(self, status: int, message: str, kind: str = "RequestError", retry_after: int | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.retry_after = status, message, kind, retry_after


class BodyTooLarge(RequestError):
    """The body is over the service's limit (413)."""

    def __init__(self, limit: int):
        super().__init__(413, f"the body is over the limit of {limit:,} bytes: send fewer or smaller inputs "
                              "(the server's --max-body-mb sets the limit)", "BodyTooLarge")


class TooManyItems(RequestError):
    """More items in one request than the service takes (413)."""

    def __init__(self, count: int | None, limit: int, at_least: bool = False):
        many = "more items" if count is None else f"{'at least ' if at_least else ''}{count:,} items"
        super().__init__(413, f"the request holds {many}, more than the limit of {limit:,} per request: send them "
                              "in several requests (the server's --max-items sets the limit)", "TooManyItems")


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_items(request: Request, kind: str, max_items: int = 1024) -> list[Any]:
    """The request's items: str for text bundles, bytes (an image file) for image bundles."""
    media = media_type(request)
    if media == JSON_TYPE:
        return await run_in_threadpool(json_items, await request.body(), kind, max_items)
    if media == FORM_TYPE and kind == "image":
        return await form_items(request, max_items)
    accepted = f"{JSON_TYPE} or {FORM_TYPE}" if kind == "image" else JSON_TYPE
    raise RequestError(415, f"content type {media or '(none)'!r} is not accepted here: send {accepted}",
                       "UnsupportedMediaType")


def strings_at_least(body: bytes) -> int:
    """A lower bound on the strings in JSON text, from two byte counts (fast, unlike a parse): inside a
    string every quote is escaped, so each quote not preceded by a backslash delimits one."""
    return (body.count(b'"') - body.count(b'\\"')) // 2


def json_items(body: bytes, kind: str, max_items: int = 1024) -> list[Any]:
    per_item = 1 if kind == "text" else 2  # a text, or {"b64": "..."}; the key "inputs" is one more string
    at_least = (strings_at_least(body) - 1) // per_item
    if at_least > max_items:  # refused before json.loads holds the GIL for the length of the parse
        raise TooManyItems(at_least, max_items, at_least=True)
    try:
        doc = json.loads(body)
    except RecursionError:  # json's own bound on nesting; a scan before parsing would cost more than the parse
        raise RequestError(400, "the body is nested too deeply: send {\"inputs\": [...]}", "MalformedJSON") from None
    except (UnicodeDecodeError, ValueError) as exc:  # ValueError: also a number of more than 4,300 digits
        raise RequestError(400, f"the body is not valid JSON ({exc})", "MalformedJSON") from None
    if not isinstance(doc, dict) or "inputs" not in doc:
        raise RequestError(400, 'the body must be a JSON object with a list "inputs", e.g. '
                           + ('{"inputs": ["a great film"]}' if kind == "text" else '{"inputs": [{"b64": "..."}]}'),
                           "WrongField")
    unknown = sorted(set(doc) - {"inputs"})
    if unknown:
        raise RequestError(400, f"unknown fields {unknown}: the body takes only \"inputs\"", "WrongField")
    inputs = doc["inputs"]
    if not isinstance(inputs, list):
        raise RequestError(400, f'"inputs" must be a list, got {type(inputs).__name__}', "WrongField")
    if len(inputs) > max_items:
        raise TooManyItems(len(inputs), max_items)
    if kind == "text":
        for i, item in enumerate(inputs):
            if not isinstance(item, str):
                raise RequestError(400, f'inputs[{i}] is a {_json_type(item)}; this text model takes strings',
                                   "WrongField")
        return inputs
    return [_b64_image(item, i) for i, item in enumerate(inputs)]


def _b64_image(item: Any, position: int) -> bytes:
    if not (isinstance(item, dict) and set(item) == {"b64"} and isinstance(item["b64"], str)):
        raise RequestError(400, f'inputs[{position}] must be {{"b64": "<base64 of an image file>"}}, '
                           f"got a {_json_type(item)}", "WrongField")
    try:
        return base64.b64decode(item["b64"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RequestError(400, f"inputs[{position}].b64 is not valid base64 ({exc})", "WrongField") from None


async def form_items(request: Request, max_items: int = 1024) -> list[bytes]:
    """The files of a multipart body, in order. The body is read (bounded as it arrives), then parsed by
    Starlette's parser in a worker thread: 1,000 parts take it about 100 ms, too long for the event loop."""
    body = await request.body()
    return await run_in_threadpool(parse_form_files, request.headers, body, max_items)


def parse_form_files(headers: Headers, body: bytes, max_items: int) -> list[bytes]:
    async def stream() -> AsyncIterator[bytes]:
        yield body

    async def parse() -> list[bytes]:
        form = await MultiPartParser(headers, stream(), max_files=max_items, max_fields=max_items).parse()
        try:
            files = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
            if not files:
                raise RequestError(400, "the form holds no file: upload images as multipart/form-data files",
                                   "WrongField")
            return [await f.read() for f in files]
        finally:
            await form.close()

    try:
        return asyncio.run(parse())
    except RequestError:
        raise
    except Exception as exc:  # noqa: BLE001 — Starlette raises several types for a broken multipart body
        if "too many" in str(exc).lower():
            raise TooManyItems(None, max_items) from None
        raise RequestError(400, f"the multipart body cannot be parsed ({exc})", "MalformedForm") from None


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
