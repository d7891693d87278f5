"""train.distill: a projection head learns a teacher's stored frames beside the character CTC;
rows without transcripts train on the frames, rows without frames on CTC; resume, export."""

import json

import numpy as np
import pytest
import torch

from asr.checkpoint import read_checkpoint
from asr.config import AugmentConfig, ConfigError, FeatureConfig
from asr.data import AsrDataset, collate
from asr.features import FeatureExtractor
from asr.frames import FramesInfo, TeacherFrames, write_info, write_shard
from asr.manifest import read_manifest
from asr.model import AcousticModel
from asr.train import train
from asr.trainstep import ctc_loss, distill_loss
from tests.conftest import tiny_config

DIMS = 8
FRAME_MS = 20.0  # the tiny model: 10 ms hop x time stride 2


def teacher_folder(manifest, folder, frame_ms=FRAME_MS, dims=DIMS):
    """Frames whose first dimension follows the clip's loudness and the rest a fixed pattern."""
    frames = {}
    for u in read_manifest(manifest):
        n = int(u.duration * 1000 / frame_ms) + 1
        pattern = np.sin(np.arange(n)[:, None] * np.linspace(0.1, 0.8, dims)[None, :])
        frames[u.id] = pattern.astype(np.float32)
    write_info(folder, FramesInfo("test", dims, frame_ms))
    write_shard(folder, 0, frames)
    return folder


def distill_config(manifest, frames, exp, *extra):
    return tiny_config(manifest, exp, f"model.distill_head={{'layer': 1, 'dims': {DIMS}}}",
                       f"train.distill={{'frames': '{frames}', 'weight': 1.0}}", *extra)  # fmt: skip


def head_loss(checkpoint, manifest, frames):
    payload = read_checkpoint(checkpoint)
    from asr.config import ExperimentConfig, from_dict

    cfg = from_dict(ExperimentConfig, payload["config"])
    model = AcousticModel(cfg.model, cfg.features.n_mels, len(payload["vocabulary"]))
    model.load_state_dict(payload["model"])
    extractor = FeatureExtractor(cfg.features)
    dataset = AsrDataset(read_manifest(manifest), extractor, teacher=TeacherFrames(frames))
    batch = collate([dataset[i] for i in range(len(dataset))])
    out = model.train()(batch.features, batch.feature_lengths)
    return float(distill_loss(out.teacher_pred, out.output_lengths, batch).detach())


@pytest.mark.slow
def test_a_few_steps_bring_the_head_closer_to_the_teacher(tone_manifest, tmp_path):
    frames = teacher_folder(tone_manifest, tmp_path / "t")
    runs = [train(distill_config(tone_manifest, frames, tmp_path / str(steps), f"train.max_steps={steps}"),
                  show_progress=False) for steps in (1, 40)]  # fmt: skip
    before, after = (head_loss(run.last_checkpoint, tone_manifest, frames) for run in runs)
    assert after < 0.9 * before, (before, after)  # measured: 1.28 -> 1.04


@pytest.mark.slow
def test_rows_without_transcripts_train_on_frames_and_resume_is_exact(tone_manifest, tmp_path):
    rows = [json.loads(line) for line in tone_manifest.read_text().splitlines()]
    for row in rows[:3]:
        row["text"] = ""  # e.g. a clip no teacher would label
    manifest = tone_manifest.parent / "partly_labelled.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    frames = teacher_folder(manifest, tmp_path / "t")
    straight = train(distill_config(manifest, frames, tmp_path / "s", "train.max_steps=6"),
                     show_progress=False)  # fmt: skip
    log = (tmp_path / "s" / "train.log").read_text()
    assert "3 training utterances without a transcript train on the teacher's frames alone" in log
    assert f"{len(rows)} train / " in log
    train(distill_config(manifest, frames, tmp_path / "r", "train.max_steps=3"), show_progress=False)
    resumed = train(distill_config(manifest, frames, tmp_path / "r", "train.max_steps=6"), resume=True,
                    show_progress=False)  # fmt: skip
    a, b = (read_checkpoint(run.last_checkpoint)["model"] for run in (straight, resumed))
    assert "distill_head.weight" in a
    assert max(float((a[k].float() - b[k].float()).abs().max()) for k in a) < 1e-5

    from asr.export import export_checkpoint

    slim = read_checkpoint(export_checkpoint(straight.last_checkpoint, tmp_path / "m.pt")[0])
    assert not any(k.startswith("distill_head") for k in slim["model"])
    assert slim["config"]["model"]["distill_head"] is None


def test_pretraining_on_frames_alone_needs_the_characters_it_will_learn(tone_manifest, tmp_path):
    rows = [{**json.loads(line), "text": ""} for line in tone_manifest.read_text().splitlines()]
    manifest = tone_manifest.parent / "unlabelled.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    frames = teacher_folder(manifest, tmp_path / "t")
    with pytest.raises(ConfigError, match="text.extra_characters"):
        train(distill_config(manifest, frames, tmp_path / "x", "train.max_steps=1"), show_progress=False)
    letters = "text.extra_characters=' ab'"
    run = train(distill_config(manifest, frames, tmp_path / "y", "train.max_steps=1", letters),
                show_progress=False)  # fmt: skip
    assert read_checkpoint(run.last_checkpoint)["vocabulary"][1:] == [" ", "a", "b"]


def test_frames_that_do_not_fit_the_model_are_refused(tone_manifest, tmp_path):
    frames = teacher_folder(tone_manifest, tmp_path / "t", frame_ms=40.0)
    with pytest.raises(ConfigError, match="every 20 ms"):
        train(distill_config(tone_manifest, frames, tmp_path / "x"), show_progress=False)


def test_rows_without_transcripts_or_frames_add_nothing_to_that_loss():
    from asr.data import Batch

    log_probs = torch.log_softmax(torch.randn(2, 20, 5), -1)
    lengths = torch.tensor([20, 15])
    feats, feat_lengths = torch.zeros(2, 40, 4), torch.tensor([40, 30])
    targets = torch.tensor([[1, 2], [3, 0]])
    batch = Batch(["a", "b"], feats, feat_lengths, targets, torch.tensor([2, 1]), ["x", "y"])
    no_text = Batch(["a", "b"], feats, feat_lengths, targets, torch.tensor([2, 0]), ["x", ""])
    first = Batch(["a"], feats[:1], feat_lengths[:1], targets[:1], torch.tensor([2]), ["x"])
    assert torch.allclose(ctc_loss(log_probs, lengths, no_text), ctc_loss(log_probs[:1], lengths[:1], first))
    pred, frames = torch.randn(2, 20, DIMS), torch.randn(2, 18, DIMS)
    with_frames = Batch(["a", "b"], feats, feat_lengths, targets, torch.tensor([2, 1]), ["x", "y"],
                        teacher_frames=frames, teacher_lengths=torch.tensor([18, 0]))  # fmt: skip
    only_first = Batch(["a"], feats[:1], feat_lengths[:1], targets[:1], torch.tensor([2]), ["x"],
                       teacher_frames=frames[:1], teacher_lengths=torch.tensor([18]))  # fmt: skip
    both, alone = distill_loss(pred, lengths, with_frames), distill_loss(pred[:1], lengths[:1], only_first)
    assert torch.allclose(both, alone)
    assert float(distill_loss(pred, lengths, batch)) == 0.0  # no frames at all


def test_teacher_frames_are_stretched_with_the_speed_perturbed_audio(tone_manifest, tmp_path):
    frames = TeacherFrames(teacher_folder(tone_manifest, tmp_path / "t"))
    from asr.augment import Augmenter

    extractor = FeatureExtractor(FeatureConfig(n_mels=40))
    augmenter = Augmenter(AugmentConfig(speed_perturb=True, freq_masks=0, time_masks=0))
    dataset = AsrDataset(read_manifest(tone_manifest), extractor, augmenter=augmenter, teacher=frames)
    stretched = 0
    for epoch in range(4):
        dataset.epoch = epoch
        for i in range(len(dataset)):
            example = dataset[i]
            expected = example.features.shape[0] / 2  # 20 ms frames over 10 ms features
            assert abs(example.teacher.shape[0] - expected) <= 2
            stretched += example.teacher.shape[0] != len(frames[dataset.utterances[i].id])
    assert stretched > 0
