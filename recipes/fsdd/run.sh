#!/usr/bin/env bash
# FSDD recipe: prep -> train -> evaluate -> transcribe, with one speaker held out as test.
#   bash recipes/fsdd/run.sh [CORPUS_DIR] [--test-speaker NAME] [--stage N] [--stop-stage N]
# CORPUS_DIR holds the FSDD wavs (default: ../shared/data/fsdd beside the repository;
# `asr prep fsdd DIR data --download` fetches the corpus).
set -euo pipefail
cd "$(dirname "$0")"
recipe=fsdd; corpus=../../../shared/data/fsdd; test_speaker=yweweler; stage=0; stop_stage=3
. ../common.sh "$@"

if run_stage 0; then
  log "stage 0: manifests from $corpus, speaker $test_speaker held out"
  asr prep fsdd "$corpus" data --test-speakers "$test_speaker"
fi
if run_stage 1; then
  log "stage 1: train"
  train config.yaml exp
fi
if run_stage 2; then
  log "stage 2: evaluate on the held-out speaker"
  asr evaluate --model exp/checkpoints/best.pt --manifest data/test.jsonl
fi
if run_stage 3; then
  log "stage 3: transcribe two test files"
  asr transcribe --model exp/checkpoints/best.pt $(head -2 data/test.jsonl | python3 -c 'import json,sys; print(" ".join(json.loads(l)["audio_filepath"] for l in sys.stdin))')
fi
