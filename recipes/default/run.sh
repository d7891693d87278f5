#!/usr/bin/env bash
# The bundled default model: FSDD digits + LJ Speech + synthetic voices, with augmentation.
#   bash recipes/default/run.sh [--stage N] [--stop-stage N] [--lm-weight W --word-score S]
# Reads ../shared/data beside the repository (fsdd/, ljspeech/, text/). Held out for testing:
# FSDD speaker yweweler, LJ chapter LJ002, and the five LibriVox clips of pocketsphinx-testdata.
# Needs: apt-get install espeak-ng flite festival festvox-kallpc16k festvox-us-slt-hts pocketsphinx-testdata
set -euo pipefail
cd "$(dirname "$0")"
recipe=default; shared=../../../shared/data; stage=0; stop_stage=5
lm_weight=1.5; word_score=0  # from stage 3's tuning table (on the validation set)
sample_text="call seven two nine five"; sample_voice=flite:slt
librivox=/usr/share/pocketsphinx/test/data/librivox
. ../common.sh "$@"
text=$shared/text/ljspeech_transcripts.csv
tests="fsdd/test lj/test librivox/test"

if run_stage 0; then
  log "stage 0: manifests (held out: FSDD yweweler, LJ002, LibriVox)"
  asr prep fsdd "$shared/fsdd" data/fsdd --test-speakers yweweler
  asr prep ljspeech "$shared/ljspeech" data/lj --test-chapters LJ002
  asr prep sphinx "$librivox" data/librivox
fi
if run_stage 1; then
  log "stage 1: synthetic voices: 600 LJ sentences outside LJ002, 300 digit strings"
  asr prep synthetic data/synthetic_lj --text "$text" --max-sentences 600 --exclude LJ002
  python digit_text.py data/digits.txt 300
  asr prep synthetic data/synthetic_digits --text data/digits.txt
  asr manifest merge data/train.jsonl data/fsdd/train.jsonl data/lj/train.jsonl \
    data/synthetic_lj/synthetic.jsonl data/synthetic_digits/synthetic.jsonl
  asr manifest merge data/valid.jsonl data/fsdd/valid.jsonl data/lj/valid.jsonl
fi
if run_stage 2; then
  log "stage 2: train"
  train config.yaml exp
fi
if run_stage 3; then
  log "stage 3: word 3-gram LM (LJ transcripts without LJ002 + digit strings); tune on valid"
  mkdir -p data/lm && cat "$text" data/digits.txt > data/lm/text.txt
  asr lm build data/lm/text.txt -o data/lm/word3.arpa --order 3 --exclude LJ002
  asr lm tune --model exp/checkpoints/best.pt --manifest data/valid.jsonl \
    --lm data/lm/word3.arpa --lm-weights 0 0.25 0.5 0.75 1 1.5 2 --word-scores -1 0 1 2
fi
if run_stage 4; then
  log "stage 4: evaluate greedy and beam + LM on the held-out sets"
  for test in $tests; do
    echo "greedy on $test: $(asr evaluate -q --model exp/checkpoints/best.pt --manifest data/$test.jsonl \
      --out exp/decode/${test%%/*} --json)"
    echo "beam+LM on $test: $(asr evaluate -q --model exp/checkpoints/best.pt --manifest data/$test.jsonl \
      --out exp/decode_lm/${test%%/*} --json --lm data/lm/word3.arpa --lm-weight "$lm_weight" --word-score "$word_score")"
  done
fi
if run_stage 5; then
  log "stage 5: package into asr/assets (half-precision weights, LM, decode settings)"
  asr export --model exp/checkpoints/best.pt --format checkpoint --half -o ../../asr/assets/model.pt \
    --lm data/lm/word3.arpa --lm-weight "$lm_weight" --word-score "$word_score"
  python -c "import sys; from data_prep.synthetic import Rendering, render; \
from pathlib import Path; render(Rendering('sample', sys.argv[1], sys.argv[2], 1.0, 50), Path(sys.argv[3]))" \
    "$sample_text" "$sample_voice" ../../asr/assets/sample.flac
  asr transcribe ../../asr/assets/sample.flac
fi
