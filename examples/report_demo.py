"""Inputs for the value-profile demo (docs/results/report-demo.md): real LLM answers to score.

    python examples/report_demo.py fulcra --prompts 200 -o demo/fulcra-answers.jsonl
    python examples/report_demo.py quest100 --questions 30 -o demo/quest100-answers.jsonl   # needs openpyxl
    python examples/report_demo.py agree demo/fulcra-scores.jsonl -o docs/results/report-demo/fulcra-agreement.json
    python examples/report_demo.py teacher demo/fulcra-scores.jsonl -o demo/vs/fulcra-deberta.jsonl

``fulcra``: GPT-4, GPT-3.5-turbo and Mistral-large answering the same SafeRLHF prompts
(``shared/data/fulcra/evaluator_outputs``), a seeded sample of prompts, every model's answer to
each; the text is written as FULCRA's dialogues are (``Human: ... / Bob: ...``); each row keeps
FULCRA's own DeBERTa evaluator scores (``fulcra_scores``) so ``agree`` can set them beside ours.
``quest100``: the six LLMs' answers to ValueCSV's questions, for a ``csv12`` profile.
``teacher``: FULCRA's evaluator's scores of the same answers written as a score file (its
score thresholded as in ``agree``, the uncertain band counted unrelated; ``p_supports`` /
``p_opposes`` are its score's positive / negative part, not probabilities), so ``report`` can
draw the two evaluators' profiles side by side.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
from clave_lite.datasets.convert import FULCRA_SCORE_ORDER as FULCRA_ORDER  # noqa: E402  (value_reward's order)
from clave_lite.datasets.convert import teacher_label  # noqa: E402  (convert fulcra-teacher's thresholds)
MODELS = {"harmless_test_openai_gpt-4.jsonl": "gpt-4", "harmless_test_openai_gpt-35-turbo.jsonl": "gpt-3.5-turbo",
          "harmless_test_mistral_mistral-large-latest.jsonl": "mistral-large"}


def fulcra(prompts: int, seed: int) -> list[dict]:
    by_model = {}
    for file, model in MODELS.items():
        with open(SHARED / "fulcra" / "evaluator_outputs" / file, encoding="utf-8") as fh:
            by_model[model] = [json.loads(line) for line in fh]
    n = len(next(iter(by_model.values())))
    assert all(len(rows) == n for rows in by_model.values())
    chosen = sorted(random.Random(seed).sample(range(n), prompts))
    out = []
    for i in chosen:
        for model, rows in by_model.items():
            r = rows[i]
            out.append({"id": f"{model}-{i + 1}", "model": model, "prompt_id": i + 1,
                        "text": f"Human: {r['prompt'].strip()}\nBob: {r['answer'].strip()}",
                        "fulcra_scores": dict(zip(FULCRA_ORDER, r["value_reward"]))})
    return out


def quest100(questions: int, seed: int) -> list[dict]:
    try:
        import openpyxl
    except ImportError:
        sys.exit("quest100.xlsx needs openpyxl: pip install openpyxl")
    ws = openpyxl.load_workbook(SHARED / "valuecsv" / "quest100.xlsx", read_only=True).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    header, rows = rows[0], [r for r in rows[1:] if r and r[0]]
    chosen = sorted(random.Random(seed).sample(range(len(rows)), questions))
    out = []
    for i in chosen:
        quest = str(rows[i][0]).strip()
        for model, answer in zip(header[1:], rows[i][1:]):
            if answer and str(answer).strip():
                out.append({"id": f"{model}-{i + 1}", "model": model, "prompt_id": i + 1,
                            "text": f"{quest}\n{str(answer).strip()}"})
    return out


def teacher(scores: Path) -> list[dict]:
    out = []
    for line in open(scores, encoding="utf-8"):
        rec = json.loads(line)
        out.append({"id": rec["id"], "model": rec["model"], "text": rec["text"], "system": "schwartz10",
                    "scores": {v: {"label": teacher_label(s) or "unrelated", "p_supports": max(0.0, s),
                                   "p_opposes": max(0.0, -s)} for v, s in rec["fulcra_scores"].items()}})
    return out


def agree(scores: Path) -> dict:
    """Per value: how often our label equals FULCRA's evaluator's, its score thresholded as in
    ``convert fulcra-teacher`` (>= 0.5 supports, <= -0.5 opposes, |s| < 0.2 unrelated; the
    uncertain band in between is left out), with Cohen's kappa."""
    pairs: dict[str, list[tuple[str, str]]] = {}
    for line in open(scores, encoding="utf-8"):
        rec = json.loads(line)
        for value, score in (rec.get("fulcra_scores") or {}).items():
            gold = teacher_label(score)
            if gold is None:
                continue
            pairs.setdefault(value, []).append((gold, rec["scores"][value]["label"]))
    out = {}
    for value, vp in pairs.items():
        n = len(vp)
        agree_ = sum(a == b for a, b in vp) / n
        labels = {a for a, _ in vp} | {b for _, b in vp}
        chance = sum((sum(a == lab for a, _ in vp) / n) * (sum(b == lab for _, b in vp) / n) for lab in labels)
        out[value] = {"n": n, "agreement": round(agree_, 3),
                      "kappa": round((agree_ - chance) / (1 - chance), 3) if chance < 1 else None,
                      "fulcra_supports": sum(a == "supports" for a, _ in vp) / n,
                      "ours_supports": sum(b == "supports" for _, b in vp) / n,
                      "fulcra_opposes": sum(a == "opposes" for a, _ in vp) / n,
                      "ours_opposes": sum(b == "opposes" for _, b in vp) / n}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["fulcra", "quest100", "agree", "teacher"])
    ap.add_argument("scores", nargs="?", type=Path, help="agree, teacher: the score JSONL (scored with --keep '*')")
    ap.add_argument("--prompts", type=int, default=200)
    ap.add_argument("--questions", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if args.what in ("agree", "teacher") and args.scores is None:
        ap.error(f"{args.what} needs the score JSONL")
    if args.what == "agree":
        args.output.write_text(json.dumps(agree(args.scores), indent=1) + "\n", encoding="utf-8")
        return
    rows = {"fulcra": lambda: fulcra(args.prompts, args.seed), "quest100": lambda: quest100(args.questions, args.seed),
            "teacher": lambda: teacher(args.scores)}[args.what]()
    with open(args.output, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(rows)} answers -> {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
