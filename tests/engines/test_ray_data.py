"""The Ray Data adapter, in Ray's local mode: the same numbers as single-process ``score``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("pyarrow")

TEXTS = [f"{who} {what} the {whom} (#{i})." for i, (who, what, whom) in enumerate(
    (w, v, o) for w in ("I", "They") for v in ("helped", "cheated", "protected", "lied to", "thanked")
    for o in ("stranger", "children"))]


@pytest.fixture(scope="module")
def local_ray(default_model):
    home, model, _ = default_model
    old = os.environ.get("CLAVE_LITE_HOME")
    os.environ["CLAVE_LITE_HOME"] = str(home)  # the actors inherit it: the default is already built there
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield model
    ray.shutdown()
    if old is None:
        os.environ.pop("CLAVE_LITE_HOME")
    else:
        os.environ["CLAVE_LITE_HOME"] = old


def _reference(model, tmp_path, values):
    src = tmp_path / "texts.jsonl"
    src.write_text("".join(json.dumps({"id": f"t{i}", "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    out = subprocess.run([sys.executable, "-m", "clave_lite.cli", "score", str(src), "--model", str(model),
                          "--values", ",".join(values), "--batch-size", "1"], capture_output=True, text=True,
                         timeout=900, env={**os.environ})
    assert out.returncode == 0, out.stderr[-2000:]
    return [json.loads(x) for x in out.stdout.splitlines()]


def test_score_dataset_equals_single_process_score(local_ray, tmp_path):
    from clave_lite.engines.ray_data import score_dataset
    from clave_lite.jobs.batch_scoring import to_score_line

    assert len(TEXTS) == 20
    values = ("Security", "Benevolence")
    ds = ray.data.from_items([{"id": f"t{i}", "text": t} for i, t in enumerate(TEXTS)], override_num_blocks=3)
    rows = sorted(score_dataset(ds, local_ray, values=values, actors=2, rows_per_call=4).take_all(),
                  key=lambda r: int(r["id"][1:]))
    ref = _reference(local_ray, tmp_path, values)
    labels = ["supports", "opposes", "unrelated"]
    assert [r["id"] for r in rows] == [x["id"] for x in ref]
    assert [to_score_line(r, values, labels) for r in rows] == [x["scores"] for x in ref]  # exactly
    shipped = score_dataset(ds.limit(6), local_ray, values=("Security",), ship="object-store").take_all()
    assert sorted((r["id"], r["Security:p_supports"]) for r in shipped) == \
        sorted((r["id"], r["Security:p_supports"]) for r in rows if int(r["id"][1:]) < 6)


def test_score_on_ray_from_the_cli(local_ray, tmp_path, run_cli):
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "corpus.parquet"
    pq.write_table(pa.table({"id": [f"t{i}" for i in range(8)], "text": TEXTS[:8]}), src)
    result = run_cli("score", src, "--model", local_ray, "--values", "Security", "--ray", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    table = pq.read_table(tmp_path / "out")
    assert table.num_rows == 8 and "Security:label" in table.column_names
    result = run_cli("score", src, "--ray", "--resume", "-o", tmp_path / "again")
    assert result.exit_code == 2 and "no --resume" in result.output


def test_a_prompt_column_is_read_as_on_every_other_path(local_ray, tmp_path):
    from clave_lite.engines.ray_data import score_dataset
    from clave_lite.jobs.batch_scoring import to_score_line

    rows = [{"id": f"t{i}", "text": t, "prompt": "Did you do something for someone today?"} for i, t in enumerate(TEXTS[:4])]
    src = tmp_path / "texts.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = subprocess.run([sys.executable, "-m", "clave_lite.cli", "score", str(src), "--model", str(local_ray),
                          "--values", "Benevolence", "--batch-size", "1"], capture_output=True, text=True,
                         timeout=900, env={**os.environ})
    assert out.returncode == 0, out.stderr[-2000:]
    ref = [json.loads(x)["scores"] for x in out.stdout.splitlines()]
    scored = sorted(score_dataset(ray.data.from_items(rows), local_ray, values=("Benevolence",)).take_all(),
                    key=lambda r: int(r["id"][1:]))
    assert [to_score_line(r, ("Benevolence",), ["supports", "opposes", "unrelated"]) for r in scored] == ref


def test_score_on_ray_consumes_the_scored_dataset_once(local_ray, tmp_path, monkeypatch):
    """Regression: write_parquet() then count() on the same lazy dataset ran the scoring twice."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from clave_lite.engines import ray_data

    consumed: list[str] = []
    real = ray_data.score_dataset

    class Once:
        def __init__(self, ds):
            self.ds = ds

        def write_parquet(self, path):
            consumed.append("write_parquet")
            return self.ds.write_parquet(path)

        def __getattr__(self, name):  # count(), take_all(), ...: any other run of the pipeline
            consumed.append(name)
            return getattr(self.ds, name)

    monkeypatch.setattr(ray_data, "score_dataset", lambda *a, **k: Once(real(*a, **k)))
    src = tmp_path / "corpus.parquet"
    pq.write_table(pa.table({"id": [f"t{i}" for i in range(5)], "text": TEXTS[:5]}), src)
    done = ray_data.score_files_on_ray(src, tmp_path / "out", None, model=local_ray, values=("Security",))
    assert consumed == ["write_parquet"] and done.rows == 5
    assert pq.read_table(tmp_path / "out").num_rows == 5
