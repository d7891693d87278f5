"""Decoding speed and accuracy on the same cached log-probs: greedy, beam search at several
widths with and without a word LM, and pyctcdecode (if installed) as an outside baseline.

Log-probs are computed once; each row then decodes all of them. Speed is seconds of
decoding per hour of audio (lower is better); the ratio column compares with greedy.

Usage: python benchmarks/decoding.py --model CKPT --manifest M.jsonl [--lm lm.arpa]
       [--lm-weight 0.5 --word-score 0] [--beams 10 50 100] [--thresholds 25 15]
       [--token-beams 0 10] [--no-lm-rows]
pyctcdecode pins numpy<2, so it is not a project dependency; to include it:
pip install --no-deps pyctcdecode pygtrie  (rows with an LM need the kenlm module too).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time
from collections.abc import Callable

import torch

from asr.config import DecodeConfig
from asr.decode import BeamDecoder, GreedyDecoder
from asr.lm.tune import cache_log_probs
from asr.load import load_model
from asr.metrics import score


def run_rows(rows, refs, cached, normalizer, audio_hours):  # type: ignore[no-untyped-def]
    base = None
    print(f"{'decoder':44} {'s / audio h':>12} {'ratio':>7} {'WER %':>7} {'CER %':>7}")
    for name, decode in rows:
        start = time.perf_counter()
        hyps = {utt_id: decode(utt_id, lp) for utt_id, lp in cached}
        seconds = (time.perf_counter() - start) / audio_hours
        base = base or seconds
        report = score(refs, hyps, normalizer)
        print(
            f"{name:44} {seconds:12.1f} {seconds / base:7.2f} {100 * report.wer:7.2f} {100 * report.cer:7.2f}"
        )


def ours(decoder: Callable) -> Callable[[str, torch.Tensor], str]:  # type: ignore[type-arg]
    return lambda utt_id, lp: decoder(lp[None], torch.tensor([lp.shape[0]]), [utt_id])[0].text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--lm")
    parser.add_argument("--lm-weight", type=float, default=0.5)
    parser.add_argument("--word-score", type=float, default=0.0)
    parser.add_argument("--beams", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--thresholds", type=float, nargs="+", default=[25.0],
                        help="beam thresholds (log-prob distance from the best hypothesis)")  # fmt: skip
    parser.add_argument("--token-beams", type=int, nargs="+", default=[0],
                        help="tokens tried per frame (decode.beam_size_token; 0: all)")  # fmt: skip
    parser.add_argument("--no-lm-rows", action="store_true", help="only the rows with --lm")
    args = parser.parse_args()
    rec = load_model(args.model)
    refs, cached = cache_log_probs(rec, args.manifest, "cpu")
    audio_hours = sum(lp.shape[0] for _, lp in cached) * rec.frame_seconds / 3600
    print(f"{len(cached)} utterances, {audio_hours * 60:.1f} min of audio, torch {torch.__version__}\n")
    rows = [("greedy", ours(GreedyDecoder(rec.vocab)))]
    for beam, threshold, tokens in itertools.product(args.beams, args.thresholds, args.token_beams):
        cfg = DecodeConfig(method="beam", beam_size=beam, beam_threshold=threshold, beam_size_token=tokens)
        name = f"beam {beam}" + (f" threshold {threshold:g}" if len(args.thresholds) > 1 else "")
        name += f" tokens {tokens or 'all'}" if len(args.token_beams) > 1 else ""
        if not args.no_lm_rows:
            rows.append((f"{name}, no LM", ours(BeamDecoder(rec.vocab, cfg))))
        if args.lm:
            lm_cfg = dataclasses.replace(
                cfg, lm=args.lm, lm_weight=args.lm_weight, word_score=args.word_score
            )
            rows.append((f"{name}, {args.lm.rsplit('/', 1)[-1]}", ours(BeamDecoder(rec.vocab, lm_cfg))))
    try:
        from pyctcdecode import build_ctcdecoder

        labels = ["", *rec.vocab.tokens[1:]]
        pyctc = build_ctcdecoder(labels)
        for beam in args.beams:
            rows.append((f"pyctcdecode beam {beam}, no LM",
                         lambda utt_id, lp, b=beam: pyctc.decode(lp.numpy(), beam_width=b)))  # fmt: skip
    except ImportError:
        print("(pyctcdecode not installed: its rows are left out)\n")
    run_rows(rows, refs, cached, rec.normalizer, audio_hours)


if __name__ == "__main__":
    main()
