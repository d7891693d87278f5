"""The bundled model (asr/assets, built by recipes/default) transcribes the bundled sample."""

import os
from pathlib import Path

import pytest

import asr
from asr.cli import main

ASSETS = Path(asr.__file__).parent / "assets"
# The sample says "call seven two nine five"; the bundled model must print exactly that. (The
# model of the second fine-tuning pass printed the homophone "to"; the third pass's prints "two".)
SAMPLE_OUTPUT = "call seven two nine five"


def test_bundled_model_transcribes_the_bundled_sample():
    model = asr.load_model(ASSETS / "model.pt")
    assert model.config.decode.method == "beam" and Path(model.config.decode.lm).is_file()
    # KenLM's binary, which start-up maps (parsing the same LM as ARPA took 1.1 s more)
    with open(model.config.decode.lm, "rb") as lm:
        assert lm.read(8) == b"mmap lm "
    (t,) = asr.transcribe(model, ASSETS / "sample.flac")
    assert t.text == SAMPLE_OUTPUT
    assert [w.word for w in t.words] == t.text.split()


def test_cli_uses_the_bundled_model_without_model_flag(capsys):
    assert main(["transcribe", str(ASSETS / "sample.flac"), "-q"]) == 0
    assert capsys.readouterr().out.strip() == SAMPLE_OUTPUT


# The accuracy guard: the bundled model (or $ASR_GUARD_MODEL) on every utterance of the three
# LibriSpeech speakers recipes/default holds out as its test set (190 utterances, 3,000+ words).
# Measured 56.0% WER (commit 3bd88cd); the bound sits 3 points above, so a regression of 5 points
# fails. When a better model ships, measure it with this test and lower the bound to that + 3.
GUARD_SPEAKERS = ("1272", "1673", "251")
GUARD_WER = 0.59


@pytest.mark.slow
def test_accuracy_guard_on_held_out_librispeech_speakers():
    from asr.config import TextConfig
    from asr.metrics import score
    from asr.text import Normalizer
    from tests.conftest import shared_data

    data = shared_data()
    if data is None:
        pytest.skip("needs ../shared/data beside the repository (or $ASR_SHARED_DATA)")
    refs, paths = {}, []
    for speaker in GUARD_SPEAKERS:
        for transcript in sorted((data / "librispeech" / "dev-clean" / speaker).glob("*/*.trans.txt")):
            for line in transcript.read_text().splitlines():
                utt_id, _, text = line.partition(" ")
                refs[utt_id] = text
                paths.append(next(transcript.parent.glob(f"{utt_id}.*")))
    assert len(refs) >= 150, f"{data}: expected the held-out speakers' 190 utterances, found {len(refs)}"
    model = asr.load_model(os.environ.get("ASR_GUARD_MODEL") or ASSETS / "model.pt")
    results = asr.transcribe(model, paths)
    report = score(refs, {u: t.text for u, t in zip(refs, results)}, Normalizer(TextConfig()))
    assert report.ref_words > 3000
    assert report.wer < GUARD_WER, f"accuracy regression: WER {report.wer:.3f} >= {GUARD_WER} ({report})"
