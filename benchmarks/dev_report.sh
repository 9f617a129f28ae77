#!/usr/bin/env bash
# README's results table: the shipped default on the three dev splits, in full, beside the anchors
# trained on the same training files and scored on exactly the same texts (docs/accuracy.md, rule 2:
# run once per shipped candidate, never to choose).
#
#   benchmarks/dev_report.sh DATA_DIR OUT_DIR [MODEL]
#
# DATA_DIR: fulcra-train, fulcra-dev, touche-train, touche-val, csv-cal, csv-dev (.jsonl, from
# `clave-lite convert`, README "CLI tour"). MODEL defaults to the embedded default evaluator.
set -euo pipefail
data=$1; out=$2; model=${3:-}
mkdir -p "$out"
m=(); [ -n "$model" ] && m=(--model "$model")
clave-lite eval "$data/fulcra-dev.jsonl" "${m[@]}" --baselines majority,tfidf,minilm,zeroshot \
  --train "$data/fulcra-train.jsonl" --json > "$out/fulcra-dev.json"
clave-lite eval "$data/touche-val.jsonl" "${m[@]}" --baselines majority,tfidf,minilm \
  --train "$data/touche-train.jsonl" --json > "$out/touche-val.json"
# MiniLM is English-only; ValueCSV is Chinese (TF-IDF uses character 1-2-grams there).
clave-lite eval "$data/csv-dev.jsonl" "${m[@]}" --baselines majority,tfidf \
  --train "$data/csv-cal.jsonl" --json > "$out/csv-dev.json"
