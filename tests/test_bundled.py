"""The bundled model (asr/assets, built by recipes/default) transcribes the bundled sample."""

from pathlib import Path

import asr
from asr.cli import main

ASSETS = Path(asr.__file__).parent / "assets"


def test_bundled_model_transcribes_the_bundled_sample():
    model = asr.load_model(ASSETS / "model.pt")
    assert model.config.decode.method == "beam" and Path(model.config.decode.lm).is_file()
    (t,) = asr.transcribe(model, ASSETS / "sample.flac")
    assert t.text == "call seven two nine five"
    assert [w.word for w in t.words] == t.text.split()


def test_cli_uses_the_bundled_model_without_model_flag(capsys):
    assert main(["transcribe", str(ASSETS / "sample.flac"), "-q"]) == 0
    assert capsys.readouterr().out.strip() == "call seven two nine five"
