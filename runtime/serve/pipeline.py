"""A request's raw items → probabilities, in pieces whose memory is bounded by construction.

Items go through preprocessing and the batcher at most `--max-batch` at a time (as `Model.predict` goes
in `limits.BATCH_CHUNK` pieces), so the engine is never resized above `--max-batch` and a request of
many small items costs what one piece costs. Images are sized from their headers first; each piece
then takes its decoded pixels from the budget shared by all requests before a pixel is decoded, and
holds no more than the budget allows. Preprocessing runs in a worker thread, off the event loop.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np
from starlette.concurrency import run_in_threadpool

from edgeport.runtime.api import Model
from edgeport.runtime.preprocess import decoded_size
from edgeport.runtime.serve.batching import Batcher
from edgeport.runtime.serve.budget import Budget


def pieces(costs: Sequence[int], max_items: int, max_cost: int) -> Iterator[slice]:
    """Consecutive slices of at most `max_items` items whose costs sum to at most `max_cost` (an item
    that alone costs more goes alone)."""
    start, total = 0, 0
    for i, cost in enumerate(costs):
        if i > start and (i - start >= max_items or total + cost > max_cost):
            yield slice(start, i)
            start, total = i, 0
        total += cost
    if start < len(costs):
        yield slice(start, len(costs))


def image_pixels(model: Model, items: Sequence[Any]) -> list[int]:
    """Decoded pixels per image, from its header (`ImageError` for one that cannot be read)."""
    size = model.preprocessor.size
    return [w * h for w, h in (decoded_size(item, size) for item in items)]


async def predict_items(model: Model, items: list[Any], batcher: Batcher, piece_items: int,
                        pixels: Budget | None = None) -> np.ndarray:
    """Probabilities for `items` in input order, computed `piece_items` (or fewer) at a time."""
    budget = pixels if model.manifest.kind == "image" else None
    costs = await run_in_threadpool(image_pixels, model, items) if budget is not None else [0] * len(items)
    outputs = []
    for piece in pieces(costs, piece_items, budget.limit if budget else 0) if items else [slice(0, 0)]:
        with batcher.coming():
            if budget is not None:
                async with budget.holding(sum(costs[piece])):
                    x = await run_in_threadpool(model.preprocess, items[piece])
            else:
                x = await run_in_threadpool(model.preprocess, items[piece])
        y = await batcher.submit(x)
        outputs.append(next(iter(y.values())) if isinstance(y, dict) else y)
    return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)
