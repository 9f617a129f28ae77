"""Metrics on small, hand-computed examples, and the gold/prediction join."""

from __future__ import annotations

import json

import pytest

from clave_lite.core.tuples import LabelledTuple
from clave_lite.errors import DataError
from clave_lite.evaluation.metrics import (
    Pair,
    accuracy,
    class_f1,
    compute,
    confusion,
    join,
    macro_f1,
)

S, O, U = "supports", "opposes", "unrelated"  # noqa: E741 (the labels' initials)

# Two values, three labels, seven (gold, pred) pairs:
#   A1 S→S  A2 S→U  A3 U→S  A4 O→O
#   B1 U→U  B2 U→S  B3 O→U
EXAMPLE = [
    Pair("A", S, S), Pair("A", S, U), Pair("A", U, S), Pair("A", O, O),
    Pair("B", U, U), Pair("B", U, S), Pair("B", O, U),
]


def test_accuracy():
    # correct: A1, A4, B1 → 3 of 7
    assert accuracy(EXAMPLE) == pytest.approx(3 / 7)
    assert accuracy([]) == 0.0


def test_class_f1_each_label():
    # supports: gold S = {A1, A2}; pred S = {A1, A3, B2}
    #   tp 1 (A1), fp 2 (A3, B2), fn 1 (A2) → P 1/3, R 1/2, F1 = 2·(1/6)/(5/6) = 2/5
    assert class_f1(EXAMPLE, S) == pytest.approx((1 / 3, 1 / 2, 2 / 5))
    # opposes: gold O = {A4, B3}; pred O = {A4}
    #   tp 1, fp 0, fn 1 (B3) → P 1, R 1/2, F1 = 2·(1/2)/(3/2) = 2/3
    assert class_f1(EXAMPLE, O) == pytest.approx((1.0, 1 / 2, 2 / 3))
    # unrelated: gold U = {A3, B1, B2}; pred U = {A2, B1, B3}
    #   tp 1 (B1), fp 2 (A2, B3), fn 2 (A3, B2) → P 1/3, R 1/3, F1 1/3
    assert class_f1(EXAMPLE, U) == pytest.approx((1 / 3, 1 / 3, 1 / 3))


def test_macro_f1_over_all_three_classes():
    # (2/5 + 2/3 + 1/3) / 3 = (1.4) / 3
    assert macro_f1(EXAMPLE) == pytest.approx(1.4 / 3)


def test_macro_f1_counts_only_classes_present_in_gold():
    # gold has S and U only; the prediction 'opposes' is wrong but the class is not averaged in
    pairs = [Pair("A", S, S), Pair("A", U, O)]
    # supports: tp 1, fp 0, fn 0 → F1 1; unrelated: tp 0, fn 1 → F1 0
    # macro over {supports, unrelated} = (1 + 0) / 2 = 0.5   (not (1 + 0 + 0) / 3)
    assert macro_f1(pairs) == pytest.approx(0.5)
    assert compute(pairs).to_dict()["per_class_f1"] == {S: 1.0, U: 0.0}
    assert macro_f1([]) == 0.0


def test_confusion_counts():
    # rows gold, columns predicted
    assert confusion(EXAMPLE) == {
        S: {S: 1, O: 0, U: 1},   # A1, A2
        O: {S: 0, O: 1, U: 1},   # A4, B3
        U: {S: 2, O: 0, U: 1},   # A3 + B2, B1
    }


def test_compute_on_the_example():
    m = compute(EXAMPLE).to_dict()
    assert m["n"] == 7
    assert m["accuracy"] == pytest.approx(3 / 7)
    assert m["macro_f1"] == pytest.approx(1.4 / 3)
    assert m["gold_label_counts"] == {S: 2, O: 2, U: 3}
    assert m["per_class_f1"] == pytest.approx({S: 2 / 5, O: 2 / 3, U: 1 / 3})
    assert m["confusion"] == confusion(EXAMPLE)

    a = m["per_value"]["A"]
    # A: gold S {A1, A2}, pred S {A1, A3} → tp 1, fp 1, fn 1 → P 1/2, R 1/2, F1 1/2
    assert a["n"] == 4 and a["gold_supports"] == 2
    assert a["f1_supports"] == pytest.approx(0.5)
    assert a["precision_supports"] == pytest.approx(0.5)
    assert a["recall_supports"] == pytest.approx(0.5)
    # A accuracy: A1, A4 correct → 2/4
    assert a["accuracy"] == pytest.approx(0.5)
    # A macro: supports 1/2; unrelated (gold A3, pred A2: tp 0) 0; opposes (A4 tp 1) 1 → 1.5/3
    assert a["macro_f1"] == pytest.approx(0.5)
    assert a["confusion"][S] == {S: 1, O: 0, U: 1}

    b = m["per_value"]["B"]
    # B: no gold supports → F1 and recall undefined (None); precision: pred S {B2}, tp 0 → 0
    assert b["n"] == 3 and b["gold_supports"] == 0
    assert b["f1_supports"] is None and b["recall_supports"] is None
    assert b["precision_supports"] == 0.0
    # B accuracy: B1 only → 1/3
    assert b["accuracy"] == pytest.approx(1 / 3)
    # B macro over gold classes {unrelated, opposes}:
    #   unrelated: gold {B1, B2}, pred {B1, B3} → tp 1, fp 1, fn 1 → 1/2; opposes: tp 0 → 0
    #   → (1/2 + 0) / 2 = 1/4
    assert b["macro_f1"] == pytest.approx(0.25)

    # value_f1_mean: B has no gold supports, so it is left out: mean over {A} = 1/2
    assert m["value_f1_mean"] == pytest.approx(0.5)
    assert m["values_without_supports"] == ["B"]


def test_value_f1_mean_averages_over_values():
    pairs = [
        # V: gold S {1, 2}, pred S {1} → tp 1, fn 1 → P 1, R 1/2, F1 2/3
        Pair("V", S, S), Pair("V", S, U), Pair("V", U, U),
        # W: gold S {1}, pred S {} → tp 0, fn 1 → F1 0
        Pair("W", S, U), Pair("W", U, U),
        # X: gold S {1}, pred S {1} → F1 1
        Pair("X", S, S),
    ]
    m = compute(pairs).to_dict()
    # (2/3 + 0 + 1) / 3 = 5/9
    assert m["value_f1_mean"] == pytest.approx(5 / 9)
    assert m["values_without_supports"] == []
    assert m["per_value"]["W"]["f1_supports"] == 0.0  # defined (gold has supports) and zero


def test_value_f1_mean_is_none_when_no_value_has_supports():
    m = compute([Pair("A", U, S), Pair("B", O, O)]).to_dict()
    assert m["value_f1_mean"] is None
    assert m["values_without_supports"] == ["A", "B"]


def test_compute_needs_pairs():
    with pytest.raises(DataError, match="no \\(gold, prediction\\) pairs"):
        compute([])


# --------------------------------------------------------------------------- join

def test_join_by_text_and_value_case_insensitively():
    gold = [LabelledTuple("t1", "Security", S), LabelledTuple("t1", "Power", U),
            LabelledTuple("t2", "Security", O)]
    pred = [LabelledTuple("t2", "security", O), LabelledTuple("t1", "POWER", S),
            LabelledTuple("t1", "Security", S), LabelledTuple("t9", "Security", S)]  # extra: ignored
    assert join(gold, pred) == [Pair("Security", S, S), Pair("Power", U, S), Pair("Security", O, O)]


def test_join_by_id_when_present():
    gold = [LabelledTuple("the original wording", "Security", S, id="d1")]
    pred = [LabelledTuple("The original\n  wording ", "Security", O, id="d1")]  # spacing and case aside
    assert join(gold, pred) == [Pair("Security", S, O)]
    with pytest.raises(DataError, match="another text"):  # a prediction for another text under the id
        join(gold, [LabelledTuple("a different text", "Security", O, id="d1")])
    # with an id on one side only, the keys differ and nothing matches
    with pytest.raises(DataError):
        join(gold, [LabelledTuple("the original wording", "Security", O)])


def test_join_missing_prediction_is_an_error():
    gold = [LabelledTuple("t1", "Security", S), LabelledTuple("t2", "Power", U),
            LabelledTuple("t3", "Power", U)]
    pred = [LabelledTuple("t1", "Security", S)]
    with pytest.raises(DataError) as info:
        join(gold, pred)
    message = str(info.value)
    assert message.startswith("2 gold tuple(s) have no prediction")
    assert "value 'Power'" in message and "'t2'" in message


# --------------------------------------------------------------------------- CLI

def _write(path, tuples):
    path.write_text("".join(json.dumps(t.to_dict()) + "\n" for t in tuples), encoding="utf-8")
    return path


def _example_files(tmp_path):
    # EXAMPLE as files: text i of value A/B
    gold, pred = [], []
    counters: dict[str, int] = {}
    for p in EXAMPLE:
        counters[p.value] = counters.get(p.value, 0) + 1
        text = f"text {counters[p.value]}"
        gold.append(LabelledTuple(text, p.value, p.gold))
        pred.append(LabelledTuple(text, p.value, p.pred))
    return _write(tmp_path / "gold.jsonl", gold), _write(tmp_path / "pred.jsonl", pred[::-1])


def test_cli_eval_json(run_cli, tmp_path):
    gold, pred = _example_files(tmp_path)
    result = run_cli("eval", gold, "--predictions", pred, "--json")
    assert result.exit_code == 0, result.output
    m = json.loads(result.stdout)
    assert {"accuracy", "macro_f1", "value_f1_mean", "per_value", "confusion"} <= set(m)
    assert m["accuracy"] == pytest.approx(3 / 7)
    assert m["macro_f1"] == pytest.approx(1.4 / 3)
    assert m["value_f1_mean"] == pytest.approx(0.5)
    assert set(m["per_value"]) == {"A", "B"}
    assert m["per_value"]["B"]["f1_supports"] is None
    assert m["confusion"][U] == {S: 2, O: 0, U: 1}
    assert m["values_without_supports"] == ["B"]


def test_cli_eval_table(run_cli, tmp_path):
    gold, pred = _example_files(tmp_path)
    result = run_cli("eval", gold, "--predictions", pred)
    assert result.exit_code == 0, result.output
    assert "tuples: 7    accuracy: 0.429    macro_f1: 0.467    value_f1_mean: 0.500" in result.stdout
    assert "left out of value_f1_mean): B" in result.stdout


def test_cli_eval_missing_prediction_exits_3(run_cli, tmp_path):
    gold, _ = _example_files(tmp_path)
    pred = _write(tmp_path / "few.jsonl", [LabelledTuple("text 1", "A", S)])
    result = run_cli("eval", gold, "--predictions", pred, "--json")
    assert result.exit_code == 3
    assert result.stderr.startswith("error: 6 gold tuple(s) have no prediction")
    assert result.stdout == ""


def test_cli_eval_with_system_rejects_unknown_values(run_cli, tmp_path):
    gold, pred = _example_files(tmp_path)
    result = run_cli("eval", gold, "--predictions", pred, "--system", "schwartz10")
    assert result.exit_code == 3
    assert f"{gold}:1: field 'value': unknown value 'A' in system 'schwartz10'" in result.stderr


def test_cli_eval_skip_exits_7(run_cli, tmp_path):
    gold, pred = _example_files(tmp_path)
    with open(gold, "a", encoding="utf-8") as handle:
        handle.write("{broken\n")
    result = run_cli("eval", gold, "--predictions", pred, "--json", "--on-error", "skip")
    assert result.exit_code == 7, result.output
    assert json.loads(result.stdout)["n"] == 7
    assert f"skipped: {gold}:8: invalid JSON" in result.stderr


def test_touche_f1_is_f1_of_macro_precision_and_recall():
    from clave_lite.evaluation.metrics import Pair, compute

    # value A: P 1.0 R 0.5; value B: P 0.5 R 1.0 → mean F1 0.667, but All-F1 = F1(0.75, 0.75) = 0.75
    pairs = [Pair("A", "supports", "supports", "1"), Pair("A", "supports", "unrelated", "2"),
             Pair("B", "supports", "supports", "1"), Pair("B", "unrelated", "supports", "2")]
    r = compute(pairs).to_dict()
    assert abs(r["value_f1_mean"] - 2 / 3) < 1e-9 and abs(r["touche_f1"] - 0.75) < 1e-9


def test_bootstrap_intervals_resample_texts_and_bracket_the_figure():
    import random

    from clave_lite.evaluation.metrics import Pair, bootstrap_intervals, compute

    rng = random.Random(0)
    labels = ("supports", "opposes", "unrelated")
    pairs = [Pair(v, g, g if rng.random() < 0.7 else rng.choice(labels), f"t{t}")
             for t in range(300) for v, g in (("A", rng.choice(labels)), ("B", rng.choice(labels)))]
    r = compute(pairs).to_dict()
    for name in ("accuracy", "macro_f1", "value_f1_mean", "touche_f1", "f1_opposes"):
        lo, hi = r["intervals"][name]
        figure = r[name] if name != "f1_opposes" else r["per_class_f1"]["opposes"]
        assert lo <= figure <= hi and 0 < hi - lo < 0.2, name
    assert bootstrap_intervals(pairs) == r["intervals"]  # seeded: the same interval twice
    # a text's values move together: with one text the interval has no width
    assert bootstrap_intervals([Pair("A", "supports", "supports", "x"), Pair("B", "unrelated", "supports", "x")]
                               )["accuracy"] == [0.5, 0.5]


def test_paired_differences_cancel_the_texts_and_refuse_other_tuples():
    import random as _random

    from clave_lite.evaluation.metrics import Pair, compute, paired_differences

    rng = _random.Random(0)
    labels = ["supports", "opposes", "unrelated"]
    gold = [(f"t{i}", v, rng.choice(labels)) for i in range(60) for v in ("A", "B", "C")]
    perfect = [Pair(v, g, g, k) for k, v, g in gold]
    noisy = [Pair(v, g, g if rng.random() < 0.7 else rng.choice(labels), k) for k, v, g in gold]
    same = {d.figure: d for d in paired_differences(noisy, noisy)}
    assert same["macro_f1"].difference == 0 and same["macro_f1"].interval == (0.0, 0.0)
    assert same["macro_f1"].share_within_tolerance == 1.0
    better = {d.figure: d for d in paired_differences(noisy, perfect, tolerance=0.01)}
    d = better["macro_f1"]
    assert d.b == 1.0 and abs(d.a - compute(noisy).to_dict()["macro_f1"]) < 1e-9  # the points are the full-sample figures
    assert d.interval[0] > 0 and d.share_within_tolerance == 1.0 and d.texts == 60
    assert {"macro_f1", "accuracy", "value_f1_mean", "touche_f1"} <= set(better)
    assert d.to_dict()["interval"] == list(d.interval)
    with pytest.raises(DataError, match="same"):
        paired_differences(noisy, perfect[:-1])
