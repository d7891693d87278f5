#!/usr/bin/env bash
# Streaming digits: a unidirectional LSTM with lookahead (config.yaml) and the same model made
# bidirectional, trained alike on FSDD (3 speakers) + synthetic digit strings, tested on the
# unseen FSDD speaker yweweler: the accuracy cost of streaming, then `asr stream` latency.
#   bash recipes/streaming/run.sh [--stage N] [--stop-stage N]
# Reads ../shared/data/fsdd; reuses the default recipe's synthetic digits when it has made them.
set -euo pipefail
cd "$(dirname "$0")"
recipe=streaming; shared=../../../shared/data; stage=0; stop_stage=3
. ../common.sh "$@"

if run_stage 0; then
  log "stage 0: FSDD (yweweler held out) + synthetic digit strings"
  asr prep fsdd "$shared/fsdd" data/fsdd --test-speakers yweweler
  if [ -f ../default/data/synthetic_digits/synthetic.jsonl ]; then
    digits=../default/data/synthetic_digits/synthetic.jsonl
  else
    python ../default/digit_text.py data/digits.txt 300
    asr prep synthetic data/synthetic_digits --text data/digits.txt
    digits=data/synthetic_digits/synthetic.jsonl
  fi
  asr manifest merge data/train.jsonl data/fsdd/train.jsonl "$digits"
  cp data/fsdd/valid.jsonl data/valid.jsonl
fi
if run_stage 1; then
  log "stage 1: train the unidirectional (lookahead 2) and the bidirectional model"
  train config.yaml exp/unidirectional
  bi="--set model.bidirectional=true --set model.lookahead=0 --set exp_dir=exp/bidirectional"
  if [ -f exp/bidirectional/checkpoints/last.pt ]; then asr train config.yaml $bi --resume; else asr train config.yaml $bi; fi
fi
if run_stage 2; then
  log "stage 2: offline WER (whole utterances) of both models: seen speakers (valid), unseen speaker (test)"
  for model in unidirectional bidirectional; do
    for set in valid test; do
      echo "$model $set: $(asr evaluate -q --model exp/$model/checkpoints/best.pt \
        --manifest data/fsdd/$set.jsonl --out exp/$model/decode_$set --json)"
    done
  done
fi
if run_stage 3; then
  log "stage 3: stream valid and test through asr.Streamer (faster than real time), score, time"
  for set in valid test; do
    PYTHONPATH=../.. python -m benchmarks.speed.streaming --model exp/unidirectional/checkpoints/best.pt \
      --manifest data/fsdd/$set.jsonl
  done
fi
