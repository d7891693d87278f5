import pytest

from asr.config import (
    ConfigError,
    ExperimentConfig,
    ModelConfig,
    from_dict,
    load_config,
    save_config,
    to_dict,
)


def test_defaults_and_overrides():
    cfg = load_config(None, ["model.rnn_type=gru", "train.lr=3e-4", "model.bidirectional=false"])
    assert cfg.model.rnn_type == "gru"
    assert cfg.train.lr == 3e-4
    assert cfg.model.bidirectional is False
    assert cfg.features.n_mels == 80


def test_unknown_key_is_an_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  hiden_size: 10\n")
    with pytest.raises(ConfigError, match="model.hiden_size"):
        load_config(path)


def test_wrong_type_and_choice_are_errors():
    with pytest.raises(ConfigError, match="model.hidden_size"):
        load_config(None, ["model.hidden_size='big'"])
    with pytest.raises(ConfigError, match="rnn_type"):
        load_config(None, ["model.rnn_type=transformer"])
    with pytest.raises(ConfigError, match="forget_bias applies to LSTM"):  # a GRU has no forget gate
        load_config(None, ["model.rnn_type=gru", "model.forget_bias=1.0"])
    assert load_config(None, ["model.forget_bias=1.0"]).model.forget_bias == 1.0
    with pytest.raises(ConfigError, match="dropout"):
        load_config(None, ["model.dropout=1.5"])


def test_int_is_accepted_for_float():
    assert load_config(None, ["train.lr=1"]).train.lr == 1.0


def test_yaml_round_trip(tmp_path):
    cfg = load_config(None, ["model.hidden_size=12", "data.train_manifest=x.jsonl"])
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg


def test_missing_fields_take_defaults():
    """A config saved before a field existed still loads (old checkpoints)."""
    old = to_dict(ExperimentConfig())
    del old["model"]["dropout"]
    del old["train"]
    assert from_dict(ExperimentConfig, old) == ExperimentConfig()
    assert from_dict(ModelConfig, {}) == ModelConfig()


def test_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        load_config("/nonexistent/config.yaml")


def test_inference_batch_seconds_by_device():
    import torch

    from asr.config import DecodeConfig
    from asr.runtime import CPU_BATCH_SECONDS, inference_batch_seconds

    auto = DecodeConfig().batch_seconds
    assert auto == 0
    assert inference_batch_seconds(auto, torch.device("cpu")) == CPU_BATCH_SECONDS < 600
    assert inference_batch_seconds(auto, torch.device("cuda")) == 600
    assert inference_batch_seconds(25.0, torch.device("cpu")) == 25.0  # a set value is kept
