#!/usr/bin/env bash
# The accuracy protocol of docs/accuracy.md for one training-stage candidate, beside an incumbent
# evaluator, on validation carved from the training files only (no dev split is read here).
#
#   benchmarks/candidate_protocol.sh RUN_DIR INCUMBENT.gguf DATA_DIR OUT_DIR
#
# DATA_DIR holds the files docs/accuracy.md makes: fulcra-fit, fulcra-valcarve, touche-fit,
# touche-valcarve-tuneA and touche-valcarve-selB (.jsonl). Writes OUT_DIR/*.json and both models'
# predictions (*.jsonl). A step whose output already exists is skipped: an interrupted run resumes, and
# an incumbent's outputs from an earlier run (same file, same texts: llama.cpp scores it identically)
# may be copied into OUT_DIR instead of scoring it again.
set -euo pipefail
run=$1; incumbent=$2; data=$3; out=$4
mkdir -p "$out"
cand="$out/candidate-q8_0.gguf"
# Decision biases (and the temperature) are tuned on FULCRA's carved dialogues and Touché half A only;
# Touché is then judged on half B, which no bias saw.
cat "$data/fulcra-valcarve.jsonl" "$data/touche-valcarve-tuneA.jsonl" > "$out/tune.jsonl"
[ -s "$cand" ] || clave-lite export "$run" -o "$cand" --tune "$out/tune.jsonl" --json > "$out/export.json"
# Each judged split: its name in OUT_DIR, its file in DATA_DIR, and the training file of its anchors.
splits=("touche-selB touche-valcarve-selB touche-fit" "fulcra-valcarve fulcra-valcarve fulcra-fit")
for who in candidate incumbent; do
  model=$cand; anchors=(--baselines majority,tfidf)
  # the anchors are trained and scored once, beside the candidate (same texts for both models)
  [ "$who" = incumbent ] && model=$incumbent && anchors=()
  for spec in "${splits[@]}"; do
    read -r name file train <<< "$spec"
    [ -s "$out/$name-$who.json" ] || clave-lite eval "$data/$file.jsonl" --model "$model" "${anchors[@]}" \
      ${anchors:+--train "$data/$train.jsonl"} --save-predictions "$out/$name-$who.jsonl" --force \
      --json > "$out/$name-$who.json"
  done
  # Injection flip rates per attack family on the first 40 carved FULCRA dialogues.
  [ -s "$out/inject-$who.json" ] || clave-lite eval "$data/fulcra-valcarve.jsonl" --model "$model" --limit 40 --inject --json \
    > "$out/inject-$who.json"
done
# Candidate minus incumbent on the same texts, paired bootstrap over texts (docs/accuracy.md 3b).
for spec in "${splits[@]}"; do
  read -r name file _ <<< "$spec"
  python "$(dirname "$0")/paired_difference.py" "$data/$file.jsonl" "$out/$name-incumbent.jsonl" \
    "$out/$name-candidate.jsonl" > "$out/paired-$name.json"
done
