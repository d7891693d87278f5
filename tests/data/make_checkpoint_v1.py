"""How checkpoint_v1.pt and checkpoint_v1_io.pt were made (asr 0.1, format version 1).
Kept for the record; do not re-run: the point of the files is that they never change."""

import torch

from asr.checkpoint import build_payload, save_checkpoint
from asr.config import load_config
from asr.features import FeatureExtractor
from asr.model import AcousticModel
from asr.text import Vocabulary

if __name__ == "__main__":
    torch.manual_seed(0)
    cfg = load_config(
        None,
        [
            "model.hidden_size=8",
            "model.num_layers=2",
            "model.conv_channels=2",
            "features.n_mels=16",
            "features.normalize=global",
            "model.time_stride=4",
        ],
    )
    vocab = Vocabulary.build(["the quick brown fox"])
    extractor = FeatureExtractor(cfg.features, torch.randn(16), torch.rand(16) + 0.5)
    model = AcousticModel(cfg.model, cfg.features.n_mels, len(vocab)).eval()
    save_checkpoint(build_payload(cfg, model, extractor, vocab), "checkpoint_v1.pt")
    wave = torch.randn(12000)
    feats = extractor(wave)[None]
    lengths = torch.tensor([feats.shape[1]])
    with torch.no_grad():
        log_probs = model(feats, lengths).log_probs
    torch.save(
        {"wave": wave, "lengths": lengths, "log_probs": log_probs, "tokens": list(vocab.tokens)},
        "checkpoint_v1_io.pt",
    )
