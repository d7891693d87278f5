#!/usr/bin/env bash
# FSDD recipe: prep -> train -> evaluate -> transcribe.
#   bash recipes/fsdd/run.sh [CORPUS_DIR] [--stage N] [--stop-stage N]
# CORPUS_DIR holds the FSDD wavs (default: ../shared/data/fsdd beside the repository).
set -euo pipefail
cd "$(dirname "$0")"
corpus=${1:-../../../shared/data/fsdd}
stage=0; stop_stage=3
shift || true
while [ $# -gt 0 ]; do
  case $1 in
    --stage) stage=$2; shift 2;;
    --stop-stage) stop_stage=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
log() { echo "$(date '+%F %T') [fsdd] $*"; }

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "stage 0: manifests from $corpus"
  asr prep fsdd "$corpus" data
fi
if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "stage 1: train"
  if [ -f exp/checkpoints/last.pt ]; then asr train config.yaml --resume; else asr train config.yaml; fi
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "stage 2: evaluate on the test split"
  asr evaluate --model exp/checkpoints/best.pt --manifest data/test.jsonl
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "stage 3: transcribe two test files"
  asr transcribe --model exp/checkpoints/best.pt $(head -2 data/test.jsonl | python3 -c 'import json,sys; print(" ".join(json.loads(l)["audio_filepath"] for l in sys.stdin))')
fi
