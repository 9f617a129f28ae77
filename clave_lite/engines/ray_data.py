"""Score a Ray Dataset: ``score_dataset(ds, ...)`` is ``ds.map_batches`` over a class-based UDF
that loads the evaluator once per actor and calls the same core as ``clave-lite score``.

>>> import ray; ray.init()                                                        # doctest: +SKIP
>>> ds = ray.data.read_parquet("s3://bucket/answers/")                             # doctest: +SKIP
>>> scored = score_dataset(ds, model="/shared/my.gguf", actors=8, cpus_per_actor=4)  # doctest: +SKIP
>>> scored.write_parquet("s3://bucket/scores/")                                    # doctest: +SKIP

* **Actors.** ``actors`` scorers, each reserving ``cpus_per_actor`` CPUs, and llama.cpp in each
  runs exactly that many threads, so actors never oversubscribe a node's cores.
* **The evaluator** reaches the workers as a path on storage every node sees (``ship="path"``,
  the default: NFS, a mounted bucket), or through Ray's object store (``ship="object-store"``:
  the driver puts the file once; each node writes it once to its clave-lite home, under a lock,
  and its actors load that copy). Without ``model`` the embedded default evaluator is built on
  first use, once per node (a file lock), not once per actor.
* **CPUs for the rest of the pipeline.** The actors reserve ``actors × cpus_per_actor`` CPUs;
  the tasks that feed them (listing and reading Parquet) need a CPU too, or Ray waits for one
  that never frees. ``score --ray`` refuses to take every CPU; with a dataset of your own, leave
  one free (an in-memory dataset, ``from_arrow``/``from_items``, has no such tasks).
* **Equal results.** llama.cpp's numbers depend a little on which texts share a decode, and Ray
  decides the batches. With ``batch_size=1`` (the default here) each text is decoded alone, so
  the result equals ``clave-lite score --batch-size 1`` exactly, however Ray splits the data;
  on CPU it is not slower (docs/benchmarks.md). A GPU actor gains from ``batch_size=8`` and then
  agrees with single-process scoring to about 0.03 in probability.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from clave_lite.errors import Remedy, UsageError, require
from clave_lite.jobs.batch_scoring import TableOptions, TableScorer

SHIP = ("path", "object-store")
READ_CPUS = 0.1
"""CPUs a Parquet read task reserves: a sliver, so reads still run when the scoring actors hold
every CPU (with a whole CPU each, ``actors × cpus_per_actor`` = all CPUs would starve them)."""


@dataclass(frozen=True)
class RayRun:
    """What :func:`score_files_on_ray` did."""

    input: str
    output: str
    """The folder of Parquet files written."""
    rows: int
    actors: int
    cpus_per_actor: int
    seconds: float
    cluster_cpus: float | None
    """The CPUs of the cluster it ran on, as Ray counts them."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class RayScorer:
    """The UDF: one per actor; the evaluator is loaded in ``__init__`` and reused by every batch."""

    def __init__(self, opts: TableOptions, model_ref: Any = None, model_sha256: str | None = None) -> None:
        if model_ref is not None:
            import dataclasses

            opts = dataclasses.replace(opts, model=node_local_copy(model_ref, model_sha256 or ""))
        self.scorer = TableScorer(opts)

    def __call__(self, batch: Any) -> Any:
        return self.scorer(batch)


def node_local_copy(model_ref: Any, sha256: str) -> Path:
    """The shipped evaluator written once per node into the clave-lite home (under a lock)."""
    import os

    import ray

    from clave_lite.paths import file_lock, subdir

    target = subdir("models") / f"shipped-{sha256[:16]}.gguf"
    if target.exists():
        return target
    with file_lock(target):
        if not target.exists():
            tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
            tmp.write_bytes(ray.get(model_ref))
            os.replace(tmp, target)
    return target


def score_dataset(ds: Any, model: str | Path | None = None, *, system: str | None = None,
                  values: Sequence[str] = (), explain: bool = False, text_column: str = "text",
                  prompt_column: str = "prompt", batch_size: int = 1, actors: int = 1, cpus_per_actor: int = 1, rows_per_call: int = 64,
                  ship: str = "path") -> Any:
    """``ds`` with the score columns of ``clave-lite score`` on Parquet (``VALUE:label``,
    ``VALUE:p_supports``, ...), lazily: Ray runs it when the result is consumed or written."""
    require("ray", "ray")
    if ship not in SHIP:
        raise UsageError(f"ship must be one of {', '.join(SHIP)}, got {ship!r}")
    if actors < 1 or cpus_per_actor < 1 or batch_size < 1 or rows_per_call < 1:
        raise UsageError("actors, cpus_per_actor, batch_size and rows_per_call must be at least 1")
    model_ref = sha = None
    if ship == "object-store":
        if model is None:
            raise UsageError("ship='object-store' sends a model file; the default evaluator is built on each node")
        import ray

        data = Path(model).read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        model_ref = ray.put(data)
    opts = TableOptions(model=Path(model) if model is not None and ship == "path" else None, threads=cpus_per_actor,
                        system=system, values=tuple(values), text_column=text_column, prompt_column=prompt_column,
                        batch_size=batch_size,
                        explain=explain)
    rows = max(batch_size, rows_per_call - rows_per_call % batch_size)  # a multiple of the decode batch
    return ds.map_batches(RayScorer, fn_constructor_kwargs={"opts": opts, "model_ref": model_ref, "model_sha256": sha},
                          batch_size=rows, batch_format="pyarrow", concurrency=actors, num_cpus=cpus_per_actor)


def score_files_on_ray(source: str | Path, output: str | Path, address: str | None = None, *,
                       model: str | Path | None = None, system: str | None = None, values: Sequence[str] = (),
                       explain: bool = False, text_column: str = "text", prompt_column: str = "prompt",
                       batch_size: int = 1, actors: int = 1, cpus_per_actor: int = 1,
                       ship: str = "path") -> RayRun:
    """``clave-lite score CORPUS --ray [ADDRESS]``: read a Parquet file or folder (any path Ray
    reads: local, NFS, s3://...), score it on the cluster at ``address`` (None: a local Ray on
    this machine), write a folder of Parquet files. Returns what was done."""
    import time

    from clave_lite.core.files import refuse_overlap

    out = Path(output)
    refuse_overlap([("-o", out)], [source])
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} already exists and is not empty: Ray would add this run's files beside the old "
                         "ones (and a reader would see both); write to a new folder")
    ray = require("ray", "ray")
    t0 = time.monotonic()
    if not ray.is_initialized():
        ray.init(address=address if address not in (None, "local") else None, include_dashboard=False,
                 log_to_driver=False)
    cpus = ray.cluster_resources().get("CPU", 0)
    if actors * cpus_per_actor >= cpus:
        raise UsageError(f"{actors} actor(s) x {cpus_per_actor} CPU would hold all {cpus:g} CPUs of the cluster, and "
                         "Ray's file listing and reading need one: leave at least one CPU free",
                         remedies=(Remedy("actors", max(1, int(cpus - 1) // cpus_per_actor)),))
    ds = ray.data.read_parquet(str(source), num_cpus=READ_CPUS)
    rows = ds.count()  # from the Parquet footers, before scoring: counting the scored dataset would score it again
    scored = score_dataset(ds, model, system=system, values=values, explain=explain, text_column=text_column,
                           prompt_column=prompt_column, batch_size=batch_size, actors=actors,
                           cpus_per_actor=cpus_per_actor, ship=ship)
    scored.write_parquet(str(output))
    return RayRun(input=str(source), output=str(output), rows=rows, actors=actors, cpus_per_actor=cpus_per_actor,
                  seconds=round(time.monotonic() - t0, 1), cluster_cpus=ray.cluster_resources().get("CPU"))
