"""features.onset_db: silence added in front of a clip changes nothing the model sees, and
word times still count from the start of the audio as given."""

import dataclasses

import pytest
import torch

from asr.audio import load_utterance
from asr.config import ConfigError, FeatureConfig, load_config
from asr.data import AsrDataset
from asr.features import from_onset, onset_cut
from asr.load import load_model
from asr.manifest import read_manifest
from asr.transcribe import transcribe
from data_prep.tones import tone_speech

ON = FeatureConfig(onset_db=40, onset_margin_ms=100)


def clip(lead_samples: int = 0) -> torch.Tensor:
    return torch.cat([torch.zeros(lead_samples), torch.from_numpy(tone_speech("abc", seed=3)).float()])


@pytest.mark.parametrize("lead", [0, 1, 160, 333, 640, 5000])
def test_added_silence_cuts_to_the_same_samples(lead):
    base, base_start = from_onset(clip(), ON)
    cut, start = from_onset(clip(lead), ON)
    assert torch.equal(cut, base)
    assert start == pytest.approx(base_start + lead / 16000)


def test_a_short_lead_is_made_up_with_zeros_and_off_changes_nothing():
    wave = torch.cat([torch.zeros(10), torch.ones(100)])  # onset at sample 10, margin 1600
    assert onset_cut(wave, ON) == 10 - 1600
    cut, start = from_onset(wave, ON)
    assert cut.shape[0] == 1600 + 100 and torch.equal(cut[-100:], torch.ones(100)) and start == -1590 / 16000
    assert from_onset(wave, FeatureConfig())[0] is wave
    silent = torch.zeros(400)
    assert torch.equal(from_onset(silent, ON)[0], silent) and onset_cut(torch.zeros(0), ON) == 0


def test_transcripts_and_word_times_ignore_added_silence(trained_checkpoint):
    rec = load_model(trained_checkpoint)
    texts = lambda: [t.text for t in transcribe(rec, [clip(), clip(160), clip(333)])]  # noqa: E731
    log_probs = lambda lead: rec.log_probs(from_onset(clip(lead), rec.extractor.cfg)[0])  # noqa: E731
    a, b = log_probs(0), log_probs(333)
    assert a.shape != b.shape or not torch.allclose(a, b)  # off: a shift moves the frames
    rec.set_onset(onset_db=40.0)
    assert torch.equal(log_probs(0), log_probs(333))
    assert len(set(texts())) == 1
    plain, later = transcribe(rec, [clip(), clip(8000)])
    assert plain.words and [w.word for w in later.words] == [w.word for w in plain.words]
    for a, b in zip(plain.words, later.words):
        assert (b.start, b.end) == pytest.approx((a.start + 0.5, a.end + 0.5), abs=0.002)


def test_datasets_cut_too(tone_manifest, trained_checkpoint):
    rec = load_model(trained_checkpoint)
    rec.set_onset(onset_db=40.0)
    utt = read_manifest(tone_manifest)[0]
    features = AsrDataset([utt], rec.extractor)[0].features
    wave = from_onset(load_utterance(utt), ON)[0]
    assert torch.allclose(features, rec.extractor(wave))


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="onset_db"):
        load_config(None, ["features.onset_db=-3"])
    with pytest.raises(ConfigError, match="not with train.distill"):
        load_config(None, ["features.onset_db=40", "model.distill_head={'layer': 1, 'dims': 8}",
                           "train.distill={'frames': 'x', 'weight': 1.0}"])  # fmt: skip


def test_a_fine_tune_may_turn_it_on_but_not_change_the_features(trained_checkpoint, tone_manifest, tmp_path):
    from asr.checkpoint import read_checkpoint
    from asr.train import train
    from conftest import tiny_config

    init = f"train.init_from='{trained_checkpoint}'"
    cfg = tiny_config(tone_manifest, tmp_path / "ft", init, "train.max_steps=2", "features.onset_db=40")
    tuned = read_checkpoint(train(cfg, show_progress=False).last_checkpoint)
    assert tuned["config"]["features"]["onset_db"] == 40.0
    other = tiny_config(tone_manifest, tmp_path / "bad", init, "features.hop_ms=20")
    with pytest.raises(ConfigError, match="init_from"):
        train(other, show_progress=False)


ALIGNED = dataclasses.replace(ON, onset_align_ms=40)


@pytest.mark.parametrize("lead", [0, 10, 640, 1599, 1600, 1601, 9000])
def test_aligned_cut_never_pads_and_moves_short_leads_by_whole_output_frames(lead):
    wave = torch.cat([torch.zeros(lead), torch.ones(50)])
    cut, start = from_onset(wave, ALIGNED)
    kept = cut.shape[0] - 50
    assert start >= 0 and torch.equal(cut[-50:], torch.ones(50))
    # every whole 40 ms (640 samples) of the lead, up to the 100 ms margin in whole frames
    assert kept == min(lead - lead % 640, 1280) and start == (lead - kept) / 16000
    grown, _ = from_onset(torch.cat([torch.zeros(160), wave]), ALIGNED)  # 10 ms more silence
    assert grown.shape[0] - cut.shape[0] in (0, 640)


def test_alignment_must_be_whole_hops(trained_checkpoint):
    with pytest.raises(ConfigError, match="onset_align_ms"):
        load_config(None, ["features.onset_align_ms=15"])
    rec = load_model(trained_checkpoint)
    with pytest.raises(ValueError, match="onset_align_ms"):
        rec.set_onset(onset_align_ms=15.0)
    with pytest.raises(ValueError, match="not an onset setting: n_mels"):
        rec.set_onset(n_mels=3)
    rec.set_onset(onset_db=30.0, onset_align_ms=40.0)
    assert rec.config.features == rec.extractor.cfg and rec.extractor.cfg.onset_align_ms == 40
    assert load_config(None, ["features.onset_align_ms=40"]).features.onset_align_ms == 40
