"""Training on the tone corpus (see conftest): overfitting, resuming, refusing to overwrite."""

import importlib
import json

import pytest
import torch

from asr.checkpoint import read_checkpoint
from asr.config import ConfigError
from asr.evaluate import evaluate
from asr.load import load_model
from asr.train import lr_lambda, train
from conftest import TINY_TEXTS, tiny_config

pytestmark = pytest.mark.slow


def test_tiny_model_overfits(trained_checkpoint, tone_manifest, tmp_path):
    report = evaluate(
        load_model(trained_checkpoint),
        tone_manifest,
        out_dir=tmp_path,
        device="cpu",
        show_progress=False,
    )
    assert report.utterances == len(TINY_TEXTS)
    assert report.cer < 0.10, report
    rows = [json.loads(line) for line in (tmp_path / "hyps.jsonl").read_text().splitlines()]
    assert {r["id"] for r in rows} == {f"utt{i}" for i in range(len(TINY_TEXTS))}
    assert json.loads((tmp_path / "wer.json").read_text())["cer"] == report.cer


def test_experiment_folder_contents(trained_checkpoint):
    exp = trained_checkpoint.parent.parent
    assert (exp / "config.yaml").is_file()
    assert "validation" in (exp / "train.log").read_text()
    events = [json.loads(line) for line in (exp / "metrics.jsonl").read_text().splitlines()]
    valid = [e for e in events if e["event"] == "valid"]
    assert len(valid) == 60 and valid[-1]["wer"] <= valid[0]["wer"]
    best = read_checkpoint(trained_checkpoint)["train_state"]
    assert best["best_wer"] == min(e["wer"] for e in valid)


def test_resume_continues_the_same_curve(tone_manifest, tmp_path):
    """N steps straight == N/2 steps, stop (mid-epoch), resume for the rest."""
    # Dropout and every kind of augmentation exercise the RNGs that a resume must restore.
    common = ["train.epochs=6", "model.dropout=0.2", "model.num_layers=2", "augment.speed_perturb=True",
              "augment.freq_masks=1", "augment.time_masks=1", "augment.time_mask_width=5"]  # fmt: skip
    straight = train(
        tiny_config(tone_manifest, tmp_path / "a", *common, "train.max_steps=20"),
        show_progress=False,
    )
    first = train(
        tiny_config(tone_manifest, tmp_path / "b", *common, "train.max_steps=9"),
        show_progress=False,
    )
    assert first.stopped_early and first.steps == 9
    state = read_checkpoint(first.last_checkpoint)["train_state"]
    assert state["batch_in_epoch"] > 0  # the stop fell inside an epoch
    second = train(
        tiny_config(tone_manifest, tmp_path / "b", *common, "train.max_steps=20"),
        resume=True,
        show_progress=False,
    )
    assert second.steps == straight.steps == 20
    a = read_checkpoint(straight.last_checkpoint)
    b = read_checkpoint(second.last_checkpoint)
    for name, tensor in a["model"].items():
        assert torch.allclose(tensor, b["model"][name], atol=1e-6), name
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"]


def test_features_on_the_device_train_as_features_in_the_loader(tone_manifest, tmp_path):
    """train.features_on=device (loaders send waveforms; the training device makes log-mel per
    batch and applies SpecAugment with the loader's seeds) follows the loader-side curve."""
    common = ["train.max_steps=12", "model.dropout=0.2", "augment.speed_perturb=True",
              "augment.freq_masks=1", "augment.time_masks=1", "augment.time_mask_width=5"]  # fmt: skip
    runs = {
        where: train(
            tiny_config(tone_manifest, tmp_path / where, *common, f"train.features_on={where}"),
            show_progress=False,
        )  # fmt: skip
        for where in ("loader", "device")
    }
    a, b = (read_checkpoint(runs[w].last_checkpoint) for w in ("loader", "device"))
    worst = max(float((a["model"][k] - b["model"][k]).abs().max()) for k in a["model"])
    assert worst < 1e-4, worst
    without_masks = train(tiny_config(tone_manifest, tmp_path / "plain", *common[:3]), show_progress=False)
    c = read_checkpoint(without_masks.last_checkpoint)
    assert max(float((a["model"][k] - c["model"][k]).abs().max()) for k in a["model"]) > 1e-3  # masks matter


def test_refuses_to_overwrite_an_existing_run(tone_manifest, tmp_path):
    cfg = tiny_config(tone_manifest, tmp_path, "train.max_steps=1")
    train(cfg, show_progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train(cfg, show_progress=False)
    with pytest.raises(ConfigError, match="model config"):
        train(tiny_config(tone_manifest, tmp_path, "model.hidden_size=8"), resume=True)


def test_global_normalisation_and_gru_train(tone_manifest, tmp_path):
    cfg = tiny_config(
        tone_manifest,
        tmp_path,
        "train.max_steps=3",
        "features.normalize=global",
        "model.rnn_type=gru",
    )
    summary = train(cfg, show_progress=False)
    rec = load_model(summary.last_checkpoint)
    assert rec.extractor.mean is not None and rec.extractor.mean.shape == (40,)


def test_lr_schedule_warms_up_then_decays():
    values = [lr_lambda(s, warmup=10, total=100, min_ratio=0.1) for s in range(120)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(values[10:], values[11:]))
    assert values[-1] == pytest.approx(0.1)


@pytest.mark.gpu
@pytest.mark.parametrize("amp", ["bf16", "fp16", "none"])
def test_cuda_training_with_amp(tone_manifest, tmp_path, amp):
    """Mixed precision on CUDA: the loss stays finite and the checkpoint loads on the CPU."""
    cfg = tiny_config(tone_manifest, tmp_path, "train.device=cuda", f"train.amp={amp}", "train.epochs=30")
    summary = train(cfg, show_progress=False)
    state = read_checkpoint(summary.last_checkpoint)["train_state"]
    assert state["skipped_steps"] == 0 and state["best_wer"] < 1.0
    load_model(summary.last_checkpoint, device="cpu")


def _nan_on_calls(monkeypatch, bad_calls):
    """Make the training step's CTC loss NaN on the given (0-based) calls, as a corrupt batch would."""
    module = importlib.import_module("asr.trainstep")  # where the optimiser step calls it
    real, calls = module.ctc_loss, iter(range(10**6))

    def loss(*args, **kwargs):
        value = real(*args, **kwargs)
        return value * float("nan") if next(calls) in bad_calls else value

    monkeypatch.setattr(module, "ctc_loss", loss)


def test_nan_loss_skips_the_step_and_counts_it(tone_manifest, tmp_path, monkeypatch):
    _nan_on_calls(monkeypatch, {3, 4, 10})
    summary = train(tiny_config(tone_manifest, tmp_path, "train.max_steps=12", "train.log_every=4"),
                    show_progress=False)  # fmt: skip
    state = read_checkpoint(summary.last_checkpoint)["train_state"]
    assert summary.steps == 12 and state["skipped_steps"] == 3  # 15 batches for 12 steps
    assert all(torch.isfinite(v).all() for v in read_checkpoint(summary.last_checkpoint)["model"].values())
    events = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    # logged at steps 4, 8 and 12
    assert [e["skipped_steps"] for e in events if e["event"] == "train"] == [2, 2, 3]
    assert "non-finite loss at step 3" in (tmp_path / "train.log").read_text()


def test_nan_patience_stops_with_a_clear_error_and_keeps_progress(tone_manifest, tmp_path, monkeypatch):
    from asr.train import NonFiniteError

    _nan_on_calls(monkeypatch, set(range(5, 10**6)))
    with pytest.raises(NonFiniteError, match="4 steps in a row had a non-finite loss"):
        train(tiny_config(tone_manifest, tmp_path, "train.nonfinite_patience=4"), show_progress=False)
    state = read_checkpoint(tmp_path / "checkpoints" / "last.pt")["train_state"]
    assert state["step"] == 5 and state["skipped_steps"] == 4  # resumable from the last good step


def test_fine_tuning_starts_from_the_given_weights(trained_checkpoint, tone_manifest, tmp_path):
    """train.init_from: the first validation is as good as the trained model's, the vocabulary is
    the checkpoint's, and progress starts afresh; a different architecture is refused."""
    cfg = tiny_config(tone_manifest, tmp_path / "ft", "train.epochs=1", "train.lr=1e-5",
                      f"train.init_from='{trained_checkpoint}'", "model.dropout=0.1")  # fmt: skip
    summary = train(cfg, show_progress=False)
    tuned = read_checkpoint(summary.last_checkpoint)
    assert tuned["vocabulary"] == read_checkpoint(trained_checkpoint)["vocabulary"]
    assert tuned["train_state"]["epoch"] == 1
    assert summary.best_wer < 0.2  # from scratch, one epoch of the tiny corpus leaves WER at 100%
    wider = tiny_config(tone_manifest, tmp_path / "bad", f"train.init_from='{trained_checkpoint}'",
                        "model.hidden_size=32")  # fmt: skip
    with pytest.raises(ConfigError, match="init_from"):
        train(wider, show_progress=False)


def test_best_checkpoint_prefers_a_model_that_spells_over_an_all_blank_one():
    from asr.train import _rank

    all_blank = _rank(1.0, 1.0)
    spelling = _rank(1.08, 0.55)  # more word errors than words, but half the characters right
    assert spelling < all_blank
    assert _rank(0.4, 0.3) < _rank(0.5, 0.1) < spelling  # below 100% WER, WER decides
