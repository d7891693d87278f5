#!/usr/bin/env bash
# LJ Speech recipe: real speech alone, and real + synthetic voices; held-out chapter LJ002,
# plus the five LibriVox clips of Debian's pocketsphinx-testdata (an unseen male voice).
#   bash recipes/ljspeech/run.sh [LJSPEECH_DIR] [--stage N] [--stop-stage N] [--lm-weight W --word-score S]
# LJSPEECH_DIR holds metadata.csv and wavs/ (default: ../shared/data/ljspeech beside the
# repository; `asr prep ljspeech DIR data/lj --download` fetches the full corpus instead).
# Needs: apt-get install espeak-ng flite festival festvox-kallpc16k festvox-us-slt-hts pocketsphinx-testdata
set -euo pipefail
cd "$(dirname "$0")"
recipe=ljspeech; corpus=../../../shared/data/ljspeech; stage=0; stop_stage=5
lm_weight=0.5; word_score=0  # set from stage 5's tuning table
text=../../../shared/data/text/ljspeech_transcripts.csv
librivox=/usr/share/pocketsphinx/test/data/librivox
. ../common.sh "$@"

if run_stage 0; then
  log "stage 0: manifests (LJ002 held out) and the LibriVox test clips"
  asr prep ljspeech "$corpus" data/lj --test-chapters LJ002
  asr prep sphinx "$librivox" data/librivox
fi
if run_stage 1; then
  log "stage 1: synthetic voices for 600 LJ sentences outside LJ002"
  asr prep synthetic data/synthetic --text "$text" --max-sentences 600 --exclude LJ002
  asr manifest merge data/train_real_synthetic.jsonl data/lj/train.jsonl data/synthetic/synthetic.jsonl
fi
if run_stage 2; then
  log "stage 2: train on real speech only"
  train config.yaml exp/real
fi
if run_stage 3; then
  log "stage 3: train on real + synthetic speech"
  train config_synthetic.yaml exp/real_synthetic
fi
if run_stage 4; then
  log "stage 4: evaluate both on LJ002 and LibriVox"
  for exp in real real_synthetic; do
    for test in lj/test librivox/test; do
      [ -f "exp/$exp/checkpoints/best.pt" ] || continue
      echo "$exp on $test: $(asr evaluate -q --model exp/$exp/checkpoints/best.pt --manifest data/$test.jsonl \
        --out exp/$exp/decode/${test%%/*} --json)"
    done
  done
fi
if run_stage 5; then
  log "stage 5: word 3-gram LM from the LJ transcripts without LJ002; tune on valid; beam + LM on the tests"
  asr lm build "$text" -o data/lm/word3.arpa --order 3 --exclude LJ002
  asr lm tune --model exp/real_synthetic/checkpoints/best.pt --manifest data/lj/valid.jsonl \
    --lm data/lm/word3.arpa --lm-weights 0 0.25 0.5 0.75 1 1.5 --word-scores -1 0 1 2
  for test in lj/test librivox/test; do
    echo "real_synthetic + LM on $test: $(asr evaluate -q --model exp/real_synthetic/checkpoints/best.pt \
      --manifest data/$test.jsonl --out exp/real_synthetic/decode_lm/${test%%/*} --json \
      --lm data/lm/word3.arpa --lm-weight "$lm_weight" --word-score "$word_score")"
  done
fi
