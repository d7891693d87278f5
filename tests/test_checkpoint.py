import pickle
from pathlib import Path

import pytest
import torch

from asr.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    build_payload,
    read_checkpoint,
    save_checkpoint,
)
from asr.config import ExperimentConfig, load_config
from asr.export import export_checkpoint
from asr.features import FeatureExtractor
from asr.load import load_model
from asr.manifest import read_manifest
from asr.model import AcousticModel
from asr.text import Vocabulary

DATA = Path(__file__).parent / "data"


def make_payload(normalize="utterance"):
    cfg = load_config(
        None,
        [
            "model.hidden_size=8",
            "model.num_layers=1",
            "model.conv_channels=2",
            "features.n_mels=16",
            f"features.normalize={normalize}",
        ],
    )
    vocab = Vocabulary.build(["abc d"])
    stats = (torch.randn(16), torch.rand(16) + 0.5) if normalize == "global" else (None, None)
    extractor = FeatureExtractor(cfg.features, *stats)
    model = AcousticModel(cfg.model, cfg.features.n_mels, len(vocab)).eval()
    return cfg, model, build_payload(cfg, model, extractor, vocab)


@pytest.mark.parametrize("normalize", ["utterance", "global"])
def test_round_trip_gives_identical_outputs(tmp_path, normalize):
    cfg, model, payload = make_payload(normalize)
    path = save_checkpoint(payload, tmp_path / "m.pt")
    rec = load_model(path)
    assert rec.config == cfg
    assert rec.vocab.tokens == payload["vocabulary"]
    wave = torch.randn(8000)
    feats = rec.extractor(wave)[None]
    lengths = torch.tensor([feats.shape[1]])
    assert torch.equal(rec.model(feats, lengths).log_probs, model(feats, lengths).log_probs)
    if normalize == "global":
        assert torch.equal(rec.extractor.mean, payload["feature_stats"]["mean"])


def test_atomic_save_leaves_no_temporary_files(tmp_path):
    _, _, payload = make_payload()
    save_checkpoint(payload, tmp_path / "m.pt")
    save_checkpoint(payload, tmp_path / "m.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_failed_save_keeps_the_previous_file(tmp_path):
    _, _, payload = make_payload()
    path = save_checkpoint(payload, tmp_path / "m.pt")
    before = path.read_bytes()
    with pytest.raises((AttributeError, TypeError, pickle.PicklingError)):
        save_checkpoint({**payload, "bad": lambda: None}, path)  # unpicklable
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_old_checkpoint_without_new_config_fields_still_loads(tmp_path):
    _, model, payload = make_payload()
    del payload["config"]["model"]["dropout"]  # as if written before the field existed
    del payload["config"]["decode"]
    rec = load_model(save_checkpoint(payload, tmp_path / "old.pt"))
    assert rec.config.decode == ExperimentConfig().decode


def test_newer_format_version_is_refused(tmp_path):
    _, _, payload = make_payload()
    payload["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(CheckpointError, match="newer than this asr"):
        load_model(save_checkpoint(payload, tmp_path / "new.pt"))


def test_unknown_config_key_is_refused(tmp_path):
    _, _, payload = make_payload()
    payload["config"]["model"]["attention_heads"] = 4
    with pytest.raises(CheckpointError, match="attention_heads"):
        load_model(save_checkpoint(payload, tmp_path / "x.pt"))


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        read_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="no format_version"):
        read_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_model(tmp_path / "missing.pt")


def test_export_half_with_lm_moves_as_a_folder(tmp_path, trained_checkpoint, tone_manifest):
    from asr.config import DecodeConfig
    from asr.lm import build_files
    from asr.transcribe import transcribe
    from tests.conftest import TINY_TEXTS

    (tmp_path / "text.txt").write_text("\n".join(TINY_TEXTS) + "\n")
    arpa, _ = build_files(tmp_path / "text.txt", tmp_path / "lm" / "words.arpa", order=2)
    decode = DecodeConfig(method="beam", lm=str(arpa), lm_weight=0.3, beam_size=8)
    files = export_checkpoint(trained_checkpoint, tmp_path / "ship" / "model.pt", half=True, decode=decode)
    assert sorted(p.name for p in files) == ["model.lexicon", "model.lm.arpa.gz", "model.pt"]
    payload = read_checkpoint(files[0])
    assert "optimizer" not in payload and payload["model"]["classifier.weight"].dtype == torch.float16
    assert files[0].stat().st_size < 0.6 * trained_checkpoint.stat().st_size

    moved = tmp_path / "elsewhere"
    (tmp_path / "ship").rename(moved)
    rec, full = load_model(moved / "model.pt"), load_model(trained_checkpoint)
    assert rec.config.decode.method == "beam" and rec.config.decode.lm == str(moved / "model.lm.arpa.gz")
    assert next(rec.model.parameters()).dtype == torch.float32  # widened again on load
    feats = rec.extractor(torch.randn(16000))[None]
    lengths = torch.tensor([feats.shape[1]])
    diff = (rec.model(feats, lengths).log_probs - full.model(feats, lengths).log_probs).abs().max()
    assert 0 < diff < 0.05  # rounding to float16 changes the outputs, but only a little
    audio = [u.audio_filepath for u in read_manifest(tone_manifest)[:3]]
    beam = transcribe(rec, audio)  # uses the exported decode settings: beam search with the LM
    greedy = transcribe(full, audio)
    assert [t.text for t in beam] == [t.text for t in greedy]


def test_frozen_version_1_checkpoint_still_loads_and_decodes():
    """tests/data/checkpoint_v1.pt was written by asr 0.1 (format 1) and is never regenerated:
    every later version must load it and reproduce its stored outputs."""
    fixture = torch.load(DATA / "checkpoint_v1_io.pt", weights_only=True)
    rec = load_model(DATA / "checkpoint_v1.pt")
    out = rec.model(rec.extractor(fixture["wave"])[None], fixture["lengths"]).log_probs
    assert torch.allclose(out, fixture["log_probs"], atol=1e-5)
    assert rec.vocab.tokens == fixture["tokens"]


def test_average_of_epoch_checkpoints(tone_manifest, tmp_path):
    from asr.checkpoint import average_checkpoints
    from asr.train import train
    from tests.conftest import tiny_config

    cfg = tiny_config(tone_manifest, tmp_path / "exp", "train.epochs=5", "train.keep_epochs=3")
    train(cfg, show_progress=False)
    kept = sorted((tmp_path / "exp" / "checkpoints").glob("epoch*.pt"))
    assert [p.name for p in kept] == ["epoch003.pt", "epoch004.pt", "epoch005.pt"]
    path, used = average_checkpoints(kept, tmp_path / "avg.pt")
    weights = [read_checkpoint(p)["model"] for p in kept]
    averaged = load_model(path).model.state_dict()
    for name, value in averaged.items():
        if value.is_floating_point():
            assert torch.allclose(value, sum(w[name] for w in weights) / 3, atol=1e-6), name
    assert not torch.equal(averaged["classifier.weight"], weights[-1]["classifier.weight"])

    wers = [read_checkpoint(p)["train_state"]["epoch_wer"] for p in kept]
    _, used = average_checkpoints(kept, tmp_path / "best2.pt", best=2)
    assert sorted(wers[kept.index(p)] for p in used) == sorted(wers)[:2]

    # a run that differs only in dropout holds weights of the same meaning: its checkpoint averages in
    dropout = tiny_config(tone_manifest, tmp_path / "dropout", "train.epochs=1", "model.dropout=0.4")
    train(dropout, show_progress=False)
    soup = [kept[0], tmp_path / "dropout" / "checkpoints" / "last.pt"]
    mixed, _ = average_checkpoints(soup, tmp_path / "soup.pt")
    assert read_checkpoint(mixed)["config"]["model"] == read_checkpoint(kept[0])["config"]["model"]

    other = tiny_config(tone_manifest, tmp_path / "other", "train.epochs=1", "model.hidden_size=16")
    train(other, show_progress=False)
    with pytest.raises(CheckpointError, match="different"):
        average_checkpoints([kept[0], tmp_path / "other" / "checkpoints" / "last.pt"], tmp_path / "x.pt")
