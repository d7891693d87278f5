"""A model folder whose bytes changed is refused with a message naming the file: the seal each
model file carries (asr.integrity) and the digests it records of its LM and lexicon. Also the
errors for damaged files that carry no seal, and where a model's lexicon is looked for."""

import errno
import io
import shutil

import pytest
import torch

from asr.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from asr.cli import main
from asr.cli.flags import BUNDLED_MODEL
from asr.config import DecodeConfig
from asr.decode import make_decoder
from asr.export import export_graph
from asr.integrity import IntegrityError
from asr.load import load_model


def flipped(path, position):
    data = bytearray(path.read_bytes())
    data[position] ^= 0x04
    path.write_bytes(bytes(data))


def positions(size):
    return sorted({0, 40, size // 3, size // 2, 2 * size // 3, size - 70, size - 1})


@pytest.fixture(scope="module")
def shipped(tmp_path_factory, trained_checkpoint):
    """The trained model exported with a word LM and lexicon, as a folder."""
    from asr.lm import build_files
    from tests.conftest import TINY_TEXTS

    folder = tmp_path_factory.mktemp("shipped")
    (folder / "text.txt").write_text("\n".join(TINY_TEXTS) + "\n")
    arpa, _ = build_files(folder / "text.txt", folder / "lm" / "words.arpa", order=2)
    decode = DecodeConfig(method="beam", lm=str(arpa), lm_weight=0.3, beam_size=8)
    from asr.export import export_checkpoint

    export_checkpoint(trained_checkpoint, folder / "ship" / "model.pt", half=True, decode=decode)
    export_graph(trained_checkpoint, folder / "ship" / "model.onnx", "onnx", decode=decode)
    export_graph(trained_checkpoint, folder / "ship" / "model.ts", "torchscript", decode=decode)
    return folder / "ship"


def load_and_decode(model):
    recognizer = load_model(model)
    make_decoder(recognizer.vocab, recognizer.config.decode, torch.device("cpu"))


@pytest.mark.parametrize("name", ["model.pt", "model.onnx", "model.ts", "model.lm.arpa.gz", "model.lexicon"])
def test_a_flipped_byte_anywhere_in_a_model_folder_is_refused(shipped, tmp_path, name):
    models = ["model.pt", "model.onnx", "model.ts"] if name.startswith("model.l") else [name]
    size = (shipped / name).stat().st_size
    for position in positions(size):
        for model in models:
            folder = tmp_path / f"{position}-{model}"
            shutil.copytree(shipped, folder)
            flipped(folder / name, position)
            with pytest.raises(IntegrityError, match=f"{folder / name}: damaged"):
                load_and_decode(folder / model)
    load_and_decode(shipped / models[0])  # the untouched folder loads


@pytest.mark.slow
def test_the_bundled_model_folder_is_sealed(tmp_path):
    for name in ("model.pt", "model.lm.bin", "model.lexicon"):
        folder = tmp_path / name
        shutil.copytree(BUNDLED_MODEL.parent, folder)
        flipped(folder / name, (folder / name).stat().st_size // 2)
        with pytest.raises(IntegrityError, match=f"{folder / name}: damaged"):
            load_model(folder / "model.pt")


def test_a_lexicon_cut_in_half_is_refused_by_main(shipped, tmp_path, capsys):
    folder = tmp_path / "cut"
    shutil.copytree(shipped, folder)
    lexicon = (folder / "model.lexicon").read_bytes()
    (folder / "model.lexicon").write_bytes(lexicon[: len(lexicon) // 2])
    assert main(["transcribe", "x.wav", "--model", str(folder / "model.pt")]) == 2
    assert f"{folder / 'model.lexicon'}: damaged" in capsys.readouterr().err


def test_the_lexicon_is_looked_for_beside_the_model_only(shipped, tmp_path, monkeypatch):
    """It was taken silently from the current directory when missing beside an exported model."""
    folder = tmp_path / "moved"
    shutil.copytree(shipped, folder)
    (folder / "model.lexicon").rename(tmp_path / "model.lexicon")
    monkeypatch.chdir(tmp_path)  # ./model.lexicon exists here
    with pytest.raises(FileNotFoundError, match=f"lexicon not found: {folder / 'model.lexicon'}"):
        load_and_decode(folder / "model.pt")


def test_lexicons_and_lms_that_cannot_be_read_are_named(shipped, tmp_path):
    recognizer = load_model(shipped / "model.pt")
    lm = recognizer.config.decode.lm
    cases = {b"": "has no words", b"\n \n": "has no words", b"caf\xe9 c a f |\n": "must be UTF-8"}
    for i, (content, message) in enumerate(cases.items()):
        lexicon = tmp_path / f"{i}.lexicon"
        lexicon.write_bytes(content)
        with pytest.raises(ValueError, match=f"{lexicon}: .*{message}"):
            decode = DecodeConfig(method="beam", lm=lm, lexicon=str(lexicon))
            make_decoder(recognizer.vocab, decode, torch.device("cpu"))
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ValueError, match=f"{junk}: not a readable language model"):
        decode = DecodeConfig(method="beam", lm=str(junk), lexicon=str(shipped / "model.lexicon"))
        make_decoder(recognizer.vocab, decode, torch.device("cpu"))


def test_unsealed_checkpoints_still_load_and_damaged_ones_get_asr_s_message(trained_checkpoint, tmp_path):
    payload = read_checkpoint(trained_checkpoint)
    old = tmp_path / "old.pt"
    torch.save(payload, old)  # as written before seals: no trailer
    assert load_model(old).vocab.tokens == load_model(trained_checkpoint).vocab.tokens
    flipped(old, 0)  # the ZIP signature: torch's error would advise weights_only=False
    with pytest.raises(CheckpointError, match="not a readable checkpoint: damaged") as err:
        read_checkpoint(old)
    assert "weights_only" not in str(err.value)


def test_onnx_metadata_that_is_not_utf8_is_named(shipped, tmp_path):
    data = (shipped / "model.onnx").read_bytes()[:-78]  # the seal removed: an unsealed file
    at = data.index(b'"vocabulary"')
    broken = tmp_path / "m.onnx"
    broken.write_bytes(data[:at] + b"\xff" + data[at + 1 :])
    with pytest.raises(CheckpointError, match=f"{broken}: unreadable asr metadata"):
        load_model(broken)


def test_a_full_disk_while_saving_keeps_the_previous_checkpoint(trained_checkpoint, tmp_path, monkeypatch):
    import asr.checkpoint

    target = tmp_path / "last.pt"
    shutil.copyfile(trained_checkpoint, target)
    before = target.read_bytes()

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(asr.checkpoint.os, "fsync", no_space)
    full = "last.pt: could not be written \\(the disk is full\\).*unchanged"
    with pytest.raises(CheckpointError, match=full):
        save_checkpoint(read_checkpoint(target), target)
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_seals_change_nothing_torch_reads(trained_checkpoint):
    payload = read_checkpoint(trained_checkpoint)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    again = torch.load(io.BytesIO(trained_checkpoint.read_bytes()), weights_only=True)
    assert again.keys() == payload.keys()
    assert all(torch.equal(again["model"][k], v) for k, v in payload["model"].items())
