"""`clave-lite split`: validation carved from training tuples, by whole texts, seeded."""

from __future__ import annotations

import json


def _write(path, n_texts=30, values=("Security", "Power")):
    rows = [{"id": f"t{i}", "text": f"text {i}", "value": v, "label": "unrelated", "system": "schwartz10"}
            for i in range(n_texts) for v in values]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_split_by_whole_texts_seeded_and_never_a_seen_text(run_cli, tmp_path):
    src, fit, val = tmp_path / "all.jsonl", tmp_path / "fit.jsonl", tmp_path / "val.jsonl"
    _write(src)
    seen = tmp_path / "train_keys.json"
    seen.write_text(json.dumps({"schwartz10": [f"t{i}" for i in range(20)]}))
    result = run_cli("split", src, "--validation-texts", "5", "--exclude-keys", seen, "-o", fit, "--validation", val,
                     "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["validation_texts"] == 5
    val_rows = [json.loads(x) for x in val.read_text().splitlines()]
    fit_ids = {json.loads(x)["id"] for x in fit.read_text().splitlines()}
    val_ids = {r["id"] for r in val_rows}
    assert len(val_rows) == 10 and not val_ids & fit_ids  # both values of a text go together
    assert all(int(i[1:]) >= 20 for i in val_ids)  # never a text an earlier stage trained on
    first = val.read_text()
    assert run_cli("split", src, "--validation-texts", "5", "--exclude-keys", seen, "-o", fit, "--validation", val,
                   "--force").exit_code == 0
    assert val.read_text() == first  # same seed, same split
    too_many = run_cli("split", src, "--validation-texts", "11", "--exclude-keys", seen, "-o", fit, "--validation",
                       val, "--force")
    assert too_many.exit_code == 3 and "only 10 are eligible" in too_many.stderr
    refused = run_cli("split", src, "--validation-texts", "5", "-o", fit, "--validation", val)
    assert refused.exit_code == 2 and "--force" in refused.stderr
