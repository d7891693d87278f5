"""model.aux_phones: a phone CTC head on one recurrent layer, trained beside the character CTC;
inference, export and old checkpoints are unchanged."""

import dataclasses

import pytest
import torch

from asr.checkpoint import read_checkpoint
from asr.config import AuxPhonesConfig, ConfigError, ModelConfig, load_config
from asr.data import Batch
from asr.model import AcousticModel
from asr.trainstep import ctc_loss, phone_ctc_loss
from tests.conftest import tiny_config

AUX = ModelConfig(hidden_size=16, num_layers=3, conv_channels=4, dropout=0.0,
                  aux_phones=AuxPhonesConfig(layer=1, weight=0.5))  # fmt: skip


def batch(lengths=(60, 45), phone_lengths=(5, 4)) -> Batch:
    g = torch.Generator().manual_seed(0)
    b = len(lengths)
    feats = torch.randn(b, max(lengths), 20, generator=g)
    targets = torch.randint(1, 6, (b, 6), generator=g)
    return Batch([f"u{i}" for i in range(b)], feats, torch.tensor(lengths), targets, torch.tensor([6] * b),
                 [""] * b, phone_targets=torch.randint(1, 40, (b, 5), generator=g),
                 phone_lengths=torch.tensor(phone_lengths))  # fmt: skip


def test_the_phone_loss_reaches_layer_k_and_only_through_it():
    torch.manual_seed(0)
    model = AcousticModel(AUX, 20, 6).train()
    data = batch()
    out = model(data.features, data.feature_lengths)
    phone_ctc_loss(out.phone_log_probs, out.output_lengths, data).backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    reached = ("phone_head.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0_reverse", "convs.0.conv.weight")
    assert all(grads[n] is not None and grads[n].abs().sum() > 0 for n in reached)
    untouched = [n for n, g in grads.items() if n.startswith(("rnn.", "classifier.")) and "_l0" not in n]
    assert untouched and all(grads[n] is None or grads[n].abs().sum() == 0 for n in untouched)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_running_layer_by_layer_for_the_head_changes_no_character_output(bidirectional):
    cfg = dataclasses.replace(AUX, bidirectional=bidirectional)
    torch.manual_seed(0)
    with_head = AcousticModel(cfg, 20, 6).train()
    without = AcousticModel(dataclasses.replace(cfg, aux_phones=None), 20, 6).train()
    shared = {k: v for k, v in with_head.state_dict().items() if not k.startswith("phone_head")}
    without.load_state_dict(shared)
    data = batch()
    a, b = with_head(data.features, data.feature_lengths), without(data.features, data.feature_lengths)
    assert a.phone_log_probs is not None and b.phone_log_probs is None
    assert a.phone_log_probs.shape == (2, int(a.output_lengths.max()), 40)
    assert torch.allclose(a.log_probs, b.log_probs, atol=1e-5)
    with_head.eval()
    assert with_head(data.features, data.feature_lengths).phone_log_probs is None  # inference: no head


def test_rows_without_phones_are_left_out_of_the_phone_loss():
    torch.manual_seed(0)
    model = AcousticModel(AUX, 20, 6).train()
    out = model(batch().features, batch().feature_lengths)
    one = phone_ctc_loss(out.phone_log_probs, out.output_lengths, batch(phone_lengths=(5, 0)))
    first_only = batch(lengths=(60,), phone_lengths=(5,))
    alone = AcousticModel(AUX, 20, 6)
    alone.load_state_dict(model.state_dict())
    out1 = alone.train()(first_only.features, first_only.feature_lengths)
    expected = phone_ctc_loss(out1.phone_log_probs, out1.output_lengths, first_only)
    assert torch.allclose(one, expected, rtol=1e-4)
    none = phone_ctc_loss(out.phone_log_probs, out.output_lengths, batch(phone_lengths=(0, 0)))
    assert float(none.detach()) == 0.0
    assert float(ctc_loss(out.log_probs, out.output_lengths, batch()).detach()) > 0


def test_the_config_checks_the_layer_and_takes_one_field_at_a_time():
    with pytest.raises(ConfigError, match="aux_phones"):
        load_config(None, ["model.aux_phones={'layer': 4, 'weight': 0.3}"])
    assert load_config(None, ["model.aux_phones.layer=1"]).model.aux_phones == AuxPhonesConfig(1, 0.3)
    assert load_config(None, []).model.aux_phones is None


@pytest.mark.slow
def test_train_with_the_head_then_export_without_it(tone_manifest, trained_checkpoint, tmp_path):
    """Fine-tune an old checkpoint (no head) with the head; the run's checkpoint has it, the
    exported model has neither its weights nor its config, and transcribes as the checkpoint."""
    import asr
    from asr.export import export_checkpoint

    assert not any(k.startswith("phone_head") for k in read_checkpoint(trained_checkpoint)["model"])
    cfg = tiny_config(tone_manifest, tmp_path / "exp", "train.max_steps=6", "model.aux_phones={'layer': 1}",
                      f"train.init_from='{trained_checkpoint}'")  # fmt: skip
    summary = asr.train(cfg, show_progress=False)
    payload = read_checkpoint(summary.last_checkpoint)
    assert "phone_head.weight" in payload["model"] and payload["config"]["model"]["aux_phones"]["layer"] == 1
    log = (tmp_path / "exp" / "train.log").read_text()
    assert "phones for" in log and "0 unspelled" in log
    exported = export_checkpoint(summary.last_checkpoint, tmp_path / "model.pt")[0]
    slim = read_checkpoint(exported)
    assert not any(k.startswith("phone_head") for k in slim["model"])
    assert slim["config"]["model"]["aux_phones"] is None
    wave = asr.load_utterance(asr.read_manifest(tone_manifest)[3])
    a, b = asr.load_model(summary.last_checkpoint), asr.load_model(exported)
    assert torch.allclose(a.log_probs(wave), b.log_probs(wave), atol=1e-5)
