"""``clave-lite report``: value profiles computed right, drawn, and shown in a real browser.

The fixture is real: 36 answers (12 SafeRLHF prompts × GPT-4 / GPT-3.5 / Mistral-large, from
``shared/data/fulcra/evaluator_outputs``) scored by the default evaluator with
``--keep '*'`` (FULCRA's own scores dropped to keep it small).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clave_lite.errors import DataError, UsageError
from clave_lite.report.profile import build_profiles, differences, wilson

pytest.importorskip("matplotlib")
pytest.importorskip("jinja2")

from support.browser import assert_page_loads, assert_self_contained, screenshot  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "fulcra-scores.jsonl"


def test_wilson_interval_matches_the_textbook():
    s = wilson(8, 10)  # Newcombe (1998), table I: 0.4902, 0.9433
    assert (round(s.lo, 4), round(s.hi, 4)) == (0.4902, 0.9433)
    zero = wilson(0, 20)
    assert zero.lo == 0.0 and 0.15 < zero.hi < 0.17  # sound at 0 successes, where p ± z·se is [0, 0]
    for n in range(1, 400):  # the interval always holds p (rounding once put lo a hair above 0 at k = 0)
        for k in (0, 1, n // 2, n - 1, n):
            s = wilson(k, n)
            assert 0.0 <= s.lo <= s.p <= s.hi <= 1.0, (k, n)


def test_differences_find_a_real_gap_and_not_noise():
    rng = np.random.default_rng(1)
    hits = {}
    for g, p in (("a", 0.5), ("b", 0.5), ("c", 0.1)):
        for label in ("supports", "opposes"):
            hits[g, "V", label] = rng.random(200) < (p if label == "supports" else 0.02)
    ds = {(d.a, d.b, d.label): d for d in differences(["a", "b", "c"], ["V"], hits)}
    assert len(ds) == 6
    assert ds["a", "c", "supports"].differs and ds["b", "c", "supports"].differs
    assert not ds["a", "b", "supports"].differs
    d = ds["a", "c", "supports"]
    assert d.lo_adj <= d.lo <= d.diff <= d.hi <= d.hi_adj  # the corrected interval is the wider one


def test_profiles_of_the_fixture():
    prof = build_profiles([FIXTURE], by="model")
    assert prof.system == "schwartz10" and set(prof.groups) == {"gpt-4", "gpt-3.5-turbo", "mistral-large"}
    assert len(prof.values) == 10 and len(prof.lines) == 36
    b = prof.profile("gpt-4", "Benevolence")
    lines = [json.loads(x) for x in FIXTURE.read_text().splitlines()]
    k = sum(r["scores"]["Benevolence"]["label"] == "supports" for r in lines if r["model"] == "gpt-4")
    assert (b.supports.k, b.supports.n) == (k, 12)
    assert len(prof.differences) == 3 * 10 * 2
    top = [e for e in prof.examples if e.value == "Benevolence" and e.label == "supports"]
    assert top and top[0].p == max(r["scores"]["Benevolence"]["p_supports"] for r in lines
                                   if r["scores"]["Benevolence"]["label"] == "supports")
    assert top[0].excerpt and top[0].excerpt.startswith("Human:")


def test_one_group_per_file_without_by(tmp_path):
    lines = FIXTURE.read_text().splitlines()
    (tmp_path / "first.jsonl").write_text("\n".join(lines[:18]) + "\n")
    (tmp_path / "second.jsonl").write_text("\n".join(lines[18:]) + "\n")
    prof = build_profiles([tmp_path / "first.jsonl", tmp_path / "second.jsonl"])
    assert prof.groups == ("first", "second")


@pytest.mark.parametrize(("content", "needle"), [
    ("not json\n", "x.jsonl:1: not JSON"),
    ('{"id": "1", "text": "hi"}\n', "x.jsonl:1: no 'scores' object"),
    ('{"id": "1", "system": "a", "scores": {"V": {"label": "supports"}}}\n'
     '{"id": "2", "system": "b", "scores": {"V": {"label": "supports"}}}\n', "x.jsonl:2: scored on value system 'b'"),
    ('{"id": "1", "system": "a", "scores": {"V": {"p_supports": 1}}}\n', "needs a label"),
    ('{"id": "1", "system": "a", "scores": {"V": {"label": "supports"}}}\n', "no line has the field 'model'"),
])
def test_bad_score_files_are_named(tmp_path, content, needle):
    f = tmp_path / "x.jsonl"
    f.write_text(content)
    with pytest.raises(DataError, match=needle):
        build_profiles([f], by="model")


def test_report_renders_and_loads_in_chromium(tmp_path, run_cli):
    out = tmp_path / "rep"
    result = run_cli("report", FIXTURE, "--by", "model", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["texts"] == 36 and len(summary["figures"]) == 5
    for name in summary["figures"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dom = assert_page_loads(out / "index.html", tmp_path / "chromium")
    assert len(dom.images) == 5
    ids = {t["id"] for t in dom.tables}
    assert {"sources", "profile", "differences"} <= ids
    profile = next(t for t in dom.tables if t["id"] == "profile")
    assert profile["rows"] == 10 and profile["cells"][0] == "Self-direction"
    assert_self_contained(out)
    data = json.loads((out / "report.json").read_text())
    assert data["kind"] == "profile" and len(data["profiles"]) == 30
    shot = screenshot(out / "index.html", tmp_path / "shot.png", tmp_path / "chromium")
    assert shot.stat().st_size > 20_000  # a page with figures, not a blank one


def test_user_text_cannot_reach_outside_the_folder(tmp_path, run_cli):
    """An answer that holds markup is shown as text: no <img src=http://...> reaches the page."""
    rec = json.loads(FIXTURE.read_text().splitlines()[0])
    rec["text"] = 'Human: hi\nBob: <img src="http://example.invalid/x.png"><script>alert(1)</script>'
    rec["scores"] = {"Benevolence": {"label": "supports", "p_supports": 0.999, "p_opposes": 0.0, "p_unrelated": 0.001}}
    f = tmp_path / "evil.jsonl"
    f.write_text(json.dumps(rec) + "\n")
    assert run_cli("report", f, "-o", tmp_path / "rep").exit_code == 0
    html = (tmp_path / "rep" / "index.html").read_text()
    assert "&lt;img src=&#34;http://example.invalid/x.png&#34;&gt;" in html and "<script>alert" not in html
    assert_self_contained(tmp_path / "rep")
    assert_page_loads(tmp_path / "rep" / "index.html", tmp_path / "chromium")


def one_value(tmp_path: Path) -> Path:
    """The fixture on one value: a report of it draws in a second."""
    f = tmp_path / "one.jsonl"
    recs = [json.loads(x) for x in FIXTURE.read_text().splitlines()]
    f.write_text("".join(json.dumps({**r, "scores": {"Security": r["scores"]["Security"]}}) + "\n" for r in recs))
    return f


def test_report_folder_rules(tmp_path, run_cli):
    small = one_value(tmp_path)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    result = run_cli("report", small, "-o", busy)
    assert result.exit_code == 2 and "not a clave-lite profile report" in result.output and "--force" in result.output
    assert (busy / "notes.txt").read_text() == "mine"
    again = tmp_path / "rep"
    assert run_cli("report", small, "--by", "model", "-o", again).exit_code == 0
    assert (again / "differences.png").exists()
    assert run_cli("report", small, "-o", again).exit_code == 0  # a report is rewritten, its stale figure gone
    assert not (again / "differences.png").exists() and json.loads((again / "report.json").read_text())["by"] is None
    result = run_cli("report", small, "--by", "colour", "-o", tmp_path / "r2")
    assert result.exit_code == 3 and "--keep colour" in result.output
    with pytest.raises(UsageError, match="is a file"):
        from clave_lite.report.job import prepare_folder

        prepare_folder(FIXTURE, "profile", False)


@pytest.mark.parametrize(("groups", "texts", "n_values"), [(10, 30, 3), (60, 10, 1), (3, 200, 3)])
def test_no_real_difference_is_reported_in_at_most_5_percent_of_reports(groups, texts, n_values):
    """Family-wise error under the null: every group's labels drawn from one distribution,
    200 simulated reports; "differs" anywhere in a report is a family-wise error (60 groups:
    3,540 comparisons per report)."""
    from clave_lite.report.profile import differences

    rng = np.random.default_rng(0)
    values = ["Security", "Benevolence", "Power"][:n_values]
    names = [f"g{i}" for i in range(groups)]
    errors = 0
    for _ in range(200):
        hits = {}
        for g in names:
            labels = rng.choice(["supports", "opposes", "unrelated"], size=(len(values), texts), p=[0.3, 0.1, 0.6])
            for k, v in enumerate(values):
                for label in ("supports", "opposes"):
                    hits[g, v, label] = labels[k] == label
        errors += any(d.differs for d in differences(names, values, hits))
    assert errors / 200 <= 0.05, errors


def test_a_real_difference_is_found_and_intervals_hold_at_zero():
    from clave_lite.report.profile import differences, newcombe

    hits = {("a", "Security", "supports"): np.array([True] * 40 + [False] * 10),
            ("b", "Security", "supports"): np.array([True] * 5 + [False] * 45),
            ("a", "Security", "opposes"): np.zeros(50, bool), ("b", "Security", "opposes"): np.zeros(50, bool)}
    found = {(d.label): d for d in differences(["a", "b"], ["Security"], hits)}
    assert found["supports"].differs and found["supports"].lo > 0.5
    zero = found["opposes"]
    assert zero.diff == 0 and zero.lo < 0 < zero.hi and not zero.differs  # 0 % vs 0 %: an interval, not a point
    lo, hi = newcombe(0, 10, 0, 10)
    assert -0.35 < lo < 0 < hi < 0.35


def test_report_refuses_what_it_cannot_draw_with_one_line(run_cli, tmp_path):
    line = {"id": "1", "system": "schwartz10", "scores": {"Security": {"label": "supports", "p_supports": float("nan"),
                                                                      "p_opposes": 0.1, "p_unrelated": 0.2}}}
    nan = tmp_path / "nan.jsonl"
    nan.write_text(json.dumps(line) + "\n")  # json writes NaN, as a careless tool would
    result = run_cli("report", nan, "-o", tmp_path / "r1")
    assert result.exit_code == 3 and "between 0 and 1" in result.stderr
    parquet = tmp_path / "scores.parquet"
    parquet.write_bytes(b"PAR1" + b"\0" * 32 + b"PAR1")
    result = run_cli("report", parquet, "-o", tmp_path / "r2")
    assert result.exit_code == 3 and "Parquet" in result.stderr and "internal error" not in result.stderr


def test_dollar_signs_in_names_are_drawn_as_text(run_cli, tmp_path):
    pytest.importorskip("matplotlib")
    rows = []
    for i, group in enumerate(["price $5 and $6", r"$\undefinedmacro{x}$"] * 3):
        rows.append({"id": str(i), "system": "schwartz10", "model": group,
                     "scores": {"Security": {"label": "supports" if i % 2 else "opposes", "p_supports": 0.6,
                                             "p_opposes": 0.3, "p_unrelated": 0.1}}})
    src = tmp_path / "s.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run_cli("report", src, "--by", "model", "-o", tmp_path / "rep")
    assert result.exit_code == 0, result.output


def _paired_lines(rng, groups, prompts, values, shared=0.7, shift=0.0):
    """Answers of ``groups`` to the same prompts: each prompt has its own tendency (shared by
    every group, so answers to one prompt agree more often than chance), group 0 shifted."""
    from clave_lite.report.profile import ScoreLine

    lines = []
    base = rng.choice(["supports", "opposes", "unrelated"], size=(prompts, len(values)), p=[0.3, 0.1, 0.6])
    for gi, g in enumerate(groups):
        own = rng.choice(["supports", "opposes", "unrelated"], size=(prompts, len(values)),
                         p=[0.3 + (shift if gi == 0 else 0), 0.1, 0.6 - (shift if gi == 0 else 0)])
        keep = rng.random((prompts, len(values))) < shared
        labels = np.where(keep, base, own)
        for i in range(prompts):
            lines.append(ScoreLine(f"{g}-{i}", g, {v: str(labels[i, k]) for k, v in enumerate(values)},
                                   {v: (0.5, 0.1) for v in values}, key=str(i)))
    return lines


@pytest.mark.parametrize(("groups", "prompts"), [(3, 30), (12, 15), (2, 300)])
def test_paired_comparisons_keep_the_family_wise_error_at_5_percent(groups, prompts):
    """No real difference, answers to one prompt correlated across groups: at most 5 % of 200
    simulated reports show any difference (Newcombe's paired interval, Bonferroni)."""
    from clave_lite.report.profile import paired_differences

    rng = np.random.default_rng(1)
    names, values = [f"g{i}" for i in range(groups)], ["Security", "Benevolence"]
    errors = sum(any(d.differs for d in paired_differences(names, values, _paired_lines(rng, names, prompts, values)))
                 for _ in range(200))
    assert errors / 200 <= 0.05, errors


def test_pairing_finds_a_difference_the_independent_comparison_misses():
    """Two models answering the same 60 prompts, one supporting Security on 10 more of them: the
    paired interval resolves it; treated as independent samples, the same shares do not."""
    from clave_lite.report.profile import newcombe, newcombe_paired

    both, only_a, only_b, neither = 20, 10, 0, 30  # a: 30/60, b: 20/60, agreeing on 50 prompts
    lo, hi = newcombe_paired(both, only_a, only_b, neither)
    assert 0 < lo < 1 / 6 < hi
    lo_i, hi_i = newcombe(both + only_a, 60, both + only_b, 60)
    assert lo_i < 0 < hi_i
    zero_lo, zero_hi = newcombe_paired(0, 0, 0, 10)
    assert zero_lo < 0 < zero_hi  # 0 % vs 0 %: an interval, not a point


def test_report_pairs_answers_to_the_same_prompts(run_cli, tmp_path):
    rows = {"gpt": ["supports", "supports", "unrelated", "supports"], "mistral": ["unrelated"] * 4}
    files = []
    for model, labels in rows.items():
        f = tmp_path / f"{model}.jsonl"
        f.write_text("".join(json.dumps({"id": f"{model}-{i}", "prompt": f"question {i}", "system": "schwartz10",
                                         "scores": {"Security": {"label": lab, "p_supports": 0.6, "p_opposes": 0.1,
                                                                 "p_unrelated": 0.3}}}) + "\n"
                             for i, lab in enumerate(labels)))
        files.append(f)
    result = run_cli("report", *files, "--pair-by", "prompt", "-o", tmp_path / "rep", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert {d["paired"] for d in report["differences"]} == {4}
    assert "paired by" in (tmp_path / "rep" / "index.html").read_text()
    missing = run_cli("report", *files, "--pair-by", "question", "-o", tmp_path / "rep2")
    assert missing.exit_code == 3 and "no field 'question'" in missing.stderr
