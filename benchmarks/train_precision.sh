#!/usr/bin/env bash
# Training precision, fp32 vs bf16 (train --precision), measured in one run on this machine:
# the same texts, seed and batches trained twice from a fresh LoRA, then both exported (q8_0) and
# compared on texts neither trained on.
#
#   benchmarks/train_precision.sh DATA_DIR OUT_DIR [TEXTS]
#
# DATA_DIR holds fulcra-fit.jsonl and fulcra-valcarve.jsonl (docs/accuracy.md). Writes
# OUT_DIR/train-{fp32,bf16}.json (steps, seconds, final loss), OUT_DIR/losses.json (the loss of
# every step of both runs) and OUT_DIR/compare.json (eval --compare of the two evaluators).
set -euo pipefail
data=$1; out=$2; texts=${3:-240}
mkdir -p "$out"
lscpu | grep -E "Model name|Flags" | sed 's/Flags:/flags:/' | cut -c1-2000 > "$out/cpu.txt"
for p in fp32 bf16; do
  [ -s "$out/train-$p.json" ] || clave-lite train "$data/fulcra-fit.jsonl" --max-texts "schwartz10=$texts" \
    --epochs 1 --lr 1e-3 --precision "$p" --seed 0 -o "$out/run-$p" --json > "$out/train-$p.json"
  [ -s "$out/$p.gguf" ] || clave-lite export "$out/run-$p" -o "$out/$p.gguf" --json > "$out/export-$p.json"
done
python - "$out" <<'PY'
import json, sys, torch
out = sys.argv[1]
losses = {p: torch.load(f"{out}/run-{p}/checkpoint/state.pt", weights_only=True)["losses"] for p in ("fp32", "bf16")}
json.dump(losses, open(f"{out}/losses.json", "w"))
t = {p: json.load(open(f"{out}/train-{p}.json")) for p in ("fp32", "bf16")}
diff = [abs(a - b) for a, b in zip(losses["fp32"], losses["bf16"])]
print(f"steps {t['fp32']['steps']}; seconds fp32 {t['fp32']['seconds']} bf16 {t['bf16']['seconds']} "
      f"(bf16 {t['fp32']['seconds'] / t['bf16']['seconds']:.2f}x faster); final loss fp32 {t['fp32']['final_loss']} "
      f"bf16 {t['bf16']['final_loss']}; per-step |loss difference| mean {sum(diff) / len(diff):.4f}, max {max(diff):.4f}")
PY
clave-lite eval "$data/fulcra-valcarve.jsonl" --compare "$out/fp32.gguf" --compare "$out/bf16.gguf" --json > "$out/compare.json"
