"""Legible point labels for the report plots: a small iterative repulsion in display (pixel) coordinates.

`spread_labels` is pure numpy (boxes in, boxes out, no overlap left where the room allows), and `annotate`
applies it to a matplotlib axis: each label starts beside its point, labels that overlap each other or
cover a marker are pushed apart, a weak spring pulls each back toward its point, and a thin leader line
joins a label that had to move to its point.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

PAD = 2.0  # pixels kept between two labels


def _overlap(a_lo: np.ndarray, a_hi: np.ndarray, b_lo: np.ndarray, b_hi: np.ndarray) -> np.ndarray:
    """Per axis overlap (pixels, ≤ 0 where apart) of box a with box b."""
    return np.minimum(a_hi, b_hi) - np.maximum(a_lo, b_lo)


def spread_labels(anchors: np.ndarray, sizes: np.ndarray, bounds: Sequence[float], obstacles: np.ndarray | None = None,
                  start: tuple[float, float] = (6.0, 4.0), iterations: int = 400, spring: float = 0.02) -> np.ndarray:
    """Lower-left corners (N, 2) for label boxes of `sizes` (N, 2: width, height) near `anchors` (N, 2), all in
    pixels, kept inside `bounds` (x0, y0, x1, y1) and off the `obstacles` (M, 4 boxes x0, y0, x1, y1: the markers).

    Deterministic: ties are broken by index, so the same plot always gets the same layout.
    """
    anchors, sizes = np.asarray(anchors, float).reshape(-1, 2), np.asarray(sizes, float).reshape(-1, 2)
    obstacles = np.zeros((0, 4)) if obstacles is None else np.asarray(obstacles, float).reshape(-1, 4)
    x0, y0, x1, y1 = bounds
    home = anchors + np.asarray(start)
    pos = home.copy()
    n = len(pos)
    if n == 0:
        return pos
    for _ in range(iterations):
        move = np.zeros_like(pos)
        moved = False
        for i in range(n):
            lo_i, hi_i = pos[i], pos[i] + sizes[i]
            for j in range(i + 1, n):
                ox, oy = _overlap(lo_i - PAD, hi_i + PAD, pos[j], pos[j] + sizes[j])
                if ox > 0 and oy > 0:
                    moved = True
                    dy = (pos[i, 1] + sizes[i, 1] / 2) - (pos[j, 1] + sizes[j, 1] / 2)
                    dx = (pos[i, 0] + sizes[i, 0] / 2) - (pos[j, 0] + sizes[j, 0] / 2)
                    if oy <= ox:  # the cheaper way apart: vertical for wide text labels
                        step = np.array([0.0, oy / 2 + 0.5]) * (1 if dy > 0 or (dy == 0 and i > j) else -1)
                    else:
                        step = np.array([ox / 2 + 0.5, 0.0]) * (1 if dx > 0 or (dx == 0 and i > j) else -1)
                    move[i] += step
                    move[j] -= step
            for box in obstacles:
                ox, oy = _overlap(lo_i, hi_i, box[:2], box[2:])
                if ox > 0 and oy > 0:
                    moved = True
                    centre = (box[:2] + box[2:]) / 2
                    up = (pos[i, 1] + sizes[i, 1] / 2) >= centre[1]
                    move[i, 1] += (oy + 0.5) * (1 if up else -1) / 2
        pos += move + spring * (home - pos) * (not moved)
        pos[:, 0] = np.clip(pos[:, 0], x0, np.maximum(x0, x1 - sizes[:, 0]))
        pos[:, 1] = np.clip(pos[:, 1], y0, np.maximum(y0, y1 - sizes[:, 1]))
        if not moved and np.abs(home - pos).max() < 0.5:
            break
    return pos


def annotate(ax: Any, points: Sequence[tuple[float, float]], labels: Sequence[str], marker_px: float | Sequence[float] = 8.0,
             bold: Sequence[bool] | None = None, fontsize: float = 7) -> list[Any]:
    """Write `labels` beside `points` (data coordinates) on `ax` so that none overlaps another or a marker;
    call it after the axis limits, scales and the figure's layout (`tight_layout`) are final: the labels are
    placed in figure coordinates. Returns the text artists."""
    if not len(points):
        return []
    fig = ax.figure
    fig.canvas.draw()  # fixes the transforms and gives a renderer to measure text with
    renderer = fig.canvas.get_renderer()
    bold = list(bold) if bold is not None else [False] * len(labels)
    anchors = ax.transData.transform(np.asarray(points, float).reshape(-1, 2)) if len(points) else np.zeros((0, 2))
    texts = [ax.text(0, 0, label, fontsize=fontsize, fontweight="bold" if b else "normal", transform=fig.transFigure,
                     va="bottom", ha="left")
             for label, b in zip(labels, bold)]
    sizes = np.array([[t.get_window_extent(renderer).width, t.get_window_extent(renderer).height] for t in texts]).reshape(-1, 2)
    box = ax.get_window_extent(renderer)
    half = np.broadcast_to(np.asarray(marker_px, float), (len(anchors),)).reshape(-1, 1) / 2
    obstacles = np.column_stack([anchors - half, anchors + half]) if len(anchors) else None
    corners = spread_labels(anchors, sizes, (box.x0 + 2, box.y0 + 2, box.x1 - 2, box.y1 - 2), obstacles)
    to_figure = fig.transFigure.inverted().transform
    for text, corner, anchor, size, radius in zip(texts, corners, anchors, sizes, half[:, 0]):
        text.set_position(tuple(to_figure(corner)))
        nearest = np.clip(anchor, corner, corner + size)
        if np.hypot(*(nearest - anchor)) > radius + 8:  # moved away: a leader line says whose label it is
            ax.annotate("", xy=tuple(to_figure(anchor)), xycoords="figure fraction", xytext=tuple(to_figure(nearest)),
                        textcoords="figure fraction",
                        arrowprops={"arrowstyle": "-", "color": "grey", "lw": 0.6, "shrinkA": 0, "shrinkB": radius})
    return texts
