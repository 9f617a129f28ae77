"""Which labelled samples are worth a paid LLM call: K-Means representatives per value and label.

CLAVE embeds the samples of each (value, label) group, clusters them, and sends the sample
nearest each cluster centre, so a small budget still covers every kind of sample instead of the
first N in the file. Here a ``--budget`` of N calls is split evenly over the groups (a group
smaller than its share gives the rest back), each group is clustered into as many clusters as
it may send, and the medoids are sent, biggest cluster first. Each representative remembers
how many samples its cluster holds, so training can weight its concepts.

Embedders: :mod:`clave_lite.runtime.embedders`.

K-Means itself is ~30 lines of numpy (k-means++ seeding, Lloyd iterations, fixed seed): for a
few hundred vectors that is all scikit-learn would do, without the dependency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

import numpy as np

from clave_lite.progress import SILENT, Progress
from clave_lite.runtime.embedders import embed


def _sq_dist(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Squared distances (n, k) without materialising an (n, k, dim) array."""
    d = (x * x).sum(1)[:, None] - 2.0 * (x @ c.T) + (c * c).sum(1)[None, :]
    return np.maximum(d, 0.0)


def kmeans(x: np.ndarray, k: int, seed: int = 0, iterations: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Cluster rows of ``x`` into ``k`` groups: (assignment per row, centroids). Deterministic per seed."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    centroids = [x[rng.integers(n)]]
    for _ in range(1, k):  # k-means++: far points are likelier next centres
        d2 = _sq_dist(x, np.asarray(centroids)).min(1).astype(np.float64)
        total = float(d2.sum())
        pick = rng.choice(n, p=d2 / total) if total > 0 else rng.integers(n)
        centroids.append(x[pick])
    c = np.asarray(centroids, dtype=np.float64)
    assign = np.full(n, -1)
    for _ in range(iterations):
        new = _sq_dist(x, c).argmin(1)
        if np.array_equal(new, assign):
            break
        assign = new
        for j in range(k):
            members = x[assign == j]
            if len(members):
                c[j] = members.mean(0)
    return assign, c


def representatives(x: np.ndarray, k: int, seed: int = 0) -> list[tuple[int, int]]:
    """``k`` rows that stand for ``x``: (row, cluster size), the medoid of each cluster, biggest first."""
    if k >= len(x):
        return [(i, 1) for i in range(len(x))]
    assign, centroids = kmeans(x, k, seed)
    picks = []
    for j in range(len(centroids)):
        members = np.flatnonzero(assign == j)
        if len(members) == 0:
            continue
        nearest = members[((x[members] - centroids[j]) ** 2).sum(-1).argmin()]
        picks.append((int(nearest), int(len(members))))
    picks.sort(key=lambda p: (-p[1], p[0]))
    return picks


def allocate(budget: int | None, sizes: dict[Hashable, int]) -> dict[Hashable, int]:
    """Split ``budget`` calls evenly over groups; what a small group cannot use goes to the others."""
    if budget is None:
        return dict(sizes)
    alloc = {g: 0 for g in sizes}
    left = budget
    open_groups = [g for g in sizes if sizes[g] > 0]
    while left > 0 and open_groups:
        share = max(1, left // len(open_groups))
        for g in list(open_groups):
            if left == 0:
                break
            take = min(share, sizes[g] - alloc[g], left)
            alloc[g] += take
            left -= take
            if alloc[g] >= sizes[g]:
                open_groups.remove(g)
    return alloc


@dataclass(frozen=True)
class Pick:
    """One selected sample: its index in the caller's list and how many samples it stands for."""

    index: int
    represents: int


def select(groups: dict[Hashable, list[int]], texts: Sequence[str], budget: int | None, embedder: str,
           seed: int = 0, progress: Progress = SILENT) -> dict[Hashable, list[Pick]]:
    """Representatives per group (``groups``: key → indices into ``texts``).

    Embeds only the texts of groups that must be cut (none at all when everything fits the
    budget, so no model is loaded for nothing).
    """
    alloc = allocate(budget, {g: len(idx) for g, idx in groups.items()})
    to_cut = [g for g, idx in groups.items() if alloc[g] < len(idx)]
    vectors: dict[int, np.ndarray] = {}
    if to_cut:
        needed = sorted({i for g in to_cut for i in groups[g]})
        distinct = list(dict.fromkeys(texts[i] for i in needed))
        matrix = embed(distinct, embedder, progress)
        row_of = {t: r for r, t in enumerate(distinct)}
        vectors = {i: matrix[row_of[texts[i]]] for i in needed}
    chosen: dict[Hashable, list[Pick]] = {}
    for g, idx in groups.items():
        if alloc[g] >= len(idx):
            chosen[g] = [Pick(i, 1) for i in idx]
        elif alloc[g] == 0:
            chosen[g] = []
        else:
            x = np.stack([vectors[i] for i in idx])
            chosen[g] = [Pick(idx[row], size) for row, size in representatives(x, alloc[g], seed)]
    return chosen


def interleave(chosen: dict[Hashable, list[Pick]]) -> list[tuple[Hashable, Pick]]:
    """Round-robin over groups, so an interrupted run has covered every group about equally."""
    order: list[tuple[Hashable, Pick]] = []
    depth = max((len(p) for p in chosen.values()), default=0)
    for level in range(depth):
        for g, picks in chosen.items():
            if level < len(picks):
                order.append((g, picks[level]))
    return order
