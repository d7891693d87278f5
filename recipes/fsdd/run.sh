#!/usr/bin/env bash
# FSDD recipe: prep -> train -> evaluate -> transcribe, with one speaker held out as test.
#   bash recipes/fsdd/run.sh [CORPUS_DIR] [--test-speaker NAME] [--stage N] [--stop-stage N]
# CORPUS_DIR holds the FSDD wavs (default: ../shared/data/fsdd beside the repository;
# `asr prep fsdd DIR data --download` fetches the corpus).
set -euo pipefail
cd "$(dirname "$0")"
corpus=../../../shared/data/fsdd
test_speaker=yweweler
stage=0; stop_stage=3
while [ $# -gt 0 ]; do
  case $1 in
    --stage) stage=$2; shift 2;;
    --stop-stage) stop_stage=$2; shift 2;;
    --test-speaker) test_speaker=$2; shift 2;;
    -*) echo "unknown option $1" >&2; exit 2;;
    *) corpus=$1; shift;;
  esac
done
log() { echo "$(date '+%F %T') [fsdd] $*"; }

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "stage 0: manifests from $corpus, speaker $test_speaker held out"
  asr prep fsdd "$corpus" data --test-speakers "$test_speaker"
fi
if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "stage 1: train"
  if [ -f exp/checkpoints/last.pt ]; then asr train config.yaml --resume; else asr train config.yaml; fi
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "stage 2: evaluate on the held-out speaker"
  asr evaluate --model exp/checkpoints/best.pt --manifest data/test.jsonl
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "stage 3: transcribe two test files"
  asr transcribe --model exp/checkpoints/best.pt $(head -2 data/test.jsonl | python3 -c 'import json,sys; print(" ".join(json.loads(l)["audio_filepath"] for l in sys.stdin))')
fi
