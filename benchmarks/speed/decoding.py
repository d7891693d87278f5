"""Decoding speed and accuracy on the same cached log-probs: greedy, beam search at several
widths with and without a word LM, and pyctcdecode (if installed) as an outside baseline.

Log-probs are computed once; each row then decodes all of them. Speed is seconds of
decoding per hour of audio (lower is better); the ratio column compares with greedy.

Usage: python -m benchmarks.speed.decoding --model CKPT --manifest M.jsonl [--lm lm.arpa]
       [--lm-weight 0.5 --word-score 0] [--beams 10 50 100] [--thresholds 25 15]
       [--token-beams 0 10] [--no-lm-rows] [--smoke]
pyctcdecode pins numpy<2, so it is not a project dependency; to include it:
pip install --no-deps pyctcdecode pygtrie  (rows with an LM need the kenlm module too).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time
from collections.abc import Callable
from pathlib import Path

import torch

from asr import DecodeConfig, load_model, make_decoder, score
from benchmarks.harness import BUNDLED, run_or_smoke, sample_waves, smoke_corpus


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--manifest", type=Path)
    parser.add_argument("--lm")
    parser.add_argument("--lexicon", default="", help="default: the one beside --lm")
    parser.add_argument("--lm-weight", type=float, default=0.5)
    parser.add_argument("--word-score", type=float, default=0.0)
    parser.add_argument("--beams", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--thresholds", type=float, nargs="+", default=[25.0],
                        help="beam thresholds (log-prob distance from the best hypothesis)")  # fmt: skip
    parser.add_argument("--token-beams", type=int, nargs="+", default=[0],
                        help="tokens tried per frame (decode.beam_size_token; 0: all)")  # fmt: skip
    parser.add_argument("--no-lm-rows", action="store_true", help="only the rows with --lm")
    return run_or_smoke(parser, argv, run, smoke, "the bundled model and LM on 6 tone clips",
                        required=("model", "manifest"))  # fmt: skip


def smoke(args: argparse.Namespace, tmp: Path) -> None:
    args.model, args.manifest, args.beams = BUNDLED, smoke_corpus(tmp), [10]
    bundled = load_model(BUNDLED).config.decode
    args.lm, args.lexicon = bundled.lm, bundled.lexicon


def run(args: argparse.Namespace) -> None:
    rec = load_model(args.model)
    utts, waves, _ = sample_waves(args.manifest, None)
    refs = {u.id: u.text for u in utts}
    cached = [(u.id, rec.log_probs(w)) for u, w in zip(utts, waves)]
    audio_hours = sum(lp.shape[0] for _, lp in cached) * rec.frame_seconds / 3600
    print(f"{len(cached)} utterances, {audio_hours * 60:.1f} min of audio, torch {torch.__version__}\n")
    rows = [("greedy", ours(make_decoder(rec.vocab, DecodeConfig(method="greedy"))))]
    for beam, threshold, tokens in itertools.product(args.beams, args.thresholds, args.token_beams):
        cfg = DecodeConfig(method="beam", beam_size=beam, beam_threshold=threshold, beam_size_token=tokens)
        name = f"beam {beam}" + (f" threshold {threshold:g}" if len(args.thresholds) > 1 else "")
        name += f" tokens {tokens or 'all'}" if len(args.token_beams) > 1 else ""
        if not args.no_lm_rows:
            rows.append((f"{name}, no LM", ours(make_decoder(rec.vocab, cfg))))
        if args.lm:
            lm_cfg = dataclasses.replace(cfg, lm=str(args.lm), lexicon=args.lexicon, lm_weight=args.lm_weight,
                                         word_score=args.word_score)  # fmt: skip
            rows.append((f"{name}, {Path(args.lm).name}", ours(make_decoder(rec.vocab, lm_cfg))))
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
