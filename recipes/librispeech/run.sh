#!/usr/bin/env bash
# LibriSpeech recipe (GPU): download -> prep -> train -> evaluate on dev-clean and test-clean.
#   bash recipes/librispeech/run.sh [CORPUS_DIR] [--stage N] [--stop-stage N]
# CORPUS_DIR receives LibriSpeech/<subset>/ (default: corpus/ in this folder; ~7 GB).
set -euo pipefail
cd "$(dirname "$0")"
recipe=librispeech; corpus=corpus; stage=0; stop_stage=2
. ../common.sh "$@"

if run_stage 0; then
  log "stage 0: download (resumable, SHA-256 checked) and manifests"
  asr prep librispeech "$corpus" data --download train-clean-100 dev-clean test-clean
fi
if run_stage 1; then
  log "stage 1: train"
  train config.yaml exp/lstm5x512
fi
if run_stage 2; then
  log "stage 2: evaluate"
  for test in dev-clean test-clean; do
    asr evaluate --model exp/lstm5x512/checkpoints/best.pt --manifest "data/$test.jsonl"
  done
fi
