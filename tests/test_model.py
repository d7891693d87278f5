import pytest
import torch

from asr.config import ModelConfig
from asr.model import AcousticModel, output_length


def tiny(**kw):
    """A small model in eval mode whose batch norms act as if trained (non-zero shift), so
    padded frames would leak into real ones if the model did not mask them."""
    cfg = ModelConfig(hidden_size=16, num_layers=2, conv_channels=4, dropout=0.0, **kw)
    model = AcousticModel(cfg, n_mels=20, vocab_size=7).eval()
    with torch.no_grad():
        for block in model.convs:
            block.norm.running_mean.uniform_(-1, 1)
            block.norm.bias.uniform_(0.5, 1.0)
    return model


@pytest.mark.parametrize("rnn_type", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("time_stride", [1, 2, 4])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_shapes_and_lengths(rnn_type, time_stride, bidirectional):
    model = tiny(rnn_type=rnn_type, time_stride=time_stride, bidirectional=bidirectional)
    lengths = torch.tensor([37, 20, 1])
    out = model(torch.randn(3, 37, 20), lengths)
    expected = model.output_lengths(lengths)
    assert out.log_probs.shape == (3, int(expected.max()), 7)
    assert out.output_lengths.tolist() == expected.tolist()
    assert expected.tolist() == [output_length(model.cfg, n) for n in lengths.tolist()]
    assert torch.allclose(out.log_probs.exp().sum(-1), torch.ones(3, out.log_probs.shape[1]), atol=1e-5)


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
@pytest.mark.parametrize("time_stride", [2, 4])
@pytest.mark.parametrize("n", [23, 24])
def test_padding_does_not_change_outputs(rnn_type, time_stride, n):
    """An utterance decodes the same alone as batched with a longer one."""
    torch.manual_seed(0)
    model = tiny(rnn_type=rnn_type, time_stride=time_stride)
    short, long = torch.randn(n, 20), torch.randn(41, 20)
    alone = model(short[None], torch.tensor([n]))
    batch = torch.zeros(2, 41, 20)
    batch[0, :n], batch[1] = short, long
    together = model(batch, torch.tensor([n, 41]))
    n = int(alone.output_lengths[0])
    assert int(together.output_lengths[0]) == n
    assert torch.allclose(alone.log_probs[0, :n], together.log_probs[0, :n], atol=1e-5)


def test_train_mode_also_returns_log_probs():
    model = tiny().train()
    out = model(torch.randn(2, 30, 20), torch.tensor([30, 25]))
    assert (out.log_probs <= 0).all()


@pytest.mark.parametrize("rnn_type", ["lstm", "gru", "rnn"])
def test_per_direction_passes_equal_packed_sequences_with_gradients(rnn_type):
    """The CPU path (two padded passes per layer) is the packed computation: outputs and
    gradients of a padded batch agree, in training mode with dropout off."""
    torch.manual_seed(0)
    model = tiny(rnn_type=rnn_type).train()
    lengths = torch.tensor([41, 30, 9, 2])
    feats = torch.randn(4, 41, 20) * (torch.arange(41)[None, :] < lengths[:, None])[..., None]
    results = []
    for mode in ("packed", "per_direction"):
        model.rnn_input = mode
        model.zero_grad()
        out = model(feats, lengths)
        mask = torch.arange(out.log_probs.shape[1])[None, :] < out.output_lengths[:, None]
        (out.log_probs * mask[..., None] * torch.linspace(0, 1, 7)).sum().backward()
        results.append((out.log_probs[mask], [p.grad.clone() for p in model.parameters()]))
    (a, grads_a), (b, grads_b) = results
    assert torch.allclose(a, b, atol=1e-5)
    assert all(torch.allclose(x, y, atol=1e-4) for x, y in zip(grads_a, grads_b))
    model.rnn_input = "padded"  # the plain pass is not exact: the control that the test can fail
    assert not torch.allclose(model(feats, lengths).log_probs[mask], a, atol=1e-5)


def test_forget_bias_opens_only_the_lstm_forget_gates():
    torch.manual_seed(0)
    plain = AcousticModel(ModelConfig(hidden_size=16, num_layers=2), 80, 5)
    torch.manual_seed(0)
    opened = AcousticModel(ModelConfig(hidden_size=16, num_layers=2, forget_bias=1.0), 80, 5)
    for (name, before), (_, after) in zip(plain.rnn.named_parameters(), opened.rnn.named_parameters()):
        shift = after - before
        if name.startswith("bias_ih"):  # gates i, f, g, o
            assert torch.allclose(shift[16:32], torch.ones(16))
            assert not shift[:16].any() and not shift[32:].any()
        else:
            assert not shift.any(), name
