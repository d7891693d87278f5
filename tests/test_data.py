import torch

from asr.data import DurationBucketSampler, Example, collate

DURATIONS = [1.0, 5.0, 2.0, 9.0, 3.0, 3.5, 0.5, 7.0, 2.5, 4.0, 6.0, 1.5]


def test_batches_respect_the_cap_and_cover_everything():
    sampler = DurationBucketSampler(DURATIONS, max_batch_seconds=10.0, shuffle=True, seed=3)
    for epoch in range(3):
        batches = sampler.batches(epoch)
        assert sorted(i for b in batches for i in b) == list(range(len(DURATIONS)))
        for b in batches:
            assert len(b) == 1 or len(b) * max(DURATIONS[i] for i in b) <= 10.0


def test_an_utterance_longer_than_the_cap_forms_its_own_batch():
    batches = DurationBucketSampler([1.0, 50.0, 1.0], 10.0, shuffle=False).batches(0)
    assert [1] in batches


def test_sortagrad_first_epoch_is_shortest_first_then_shuffled():
    sampler = DurationBucketSampler(DURATIONS, 6.0, shuffle=True, sortagrad=True, seed=0)
    longest = [max(DURATIONS[i] for i in b) for b in sampler.batches(0)]
    assert longest == sorted(longest)
    later = [max(DURATIONS[i] for i in b) for b in sampler.batches(1)]
    assert later != sorted(later)


def test_batches_depend_only_on_seed_and_epoch():
    a = DurationBucketSampler(DURATIONS, 6.0, seed=1)
    b = DurationBucketSampler(DURATIONS, 6.0, seed=1)
    assert a.batches(4) == b.batches(4)
    assert a.batches(4) != a.batches(5) or a.batches(5) != a.batches(6)


def test_start_batch_skips_what_was_trained():
    sampler = DurationBucketSampler(DURATIONS, 6.0, seed=2)
    full = sampler.batches(1)
    sampler.set_epoch(1, start_batch=2)
    assert list(sampler) == full[2:]
    assert len(sampler) == len(full) - 2


def test_ranks_share_an_epoch_without_overlap_and_take_equal_steps():
    whole = DurationBucketSampler(DURATIONS, 4.0, seed=5).batches(2)
    shards = [DurationBucketSampler(DURATIONS, 4.0, seed=5, rank=r, world_size=3) for r in (0, 1, 2)]
    shards = [s.batches(2) for s in shards]
    assert len({len(s) for s in shards}) == 1 and len(shards[0]) == len(whole) // 3
    seen = [i for s in shards for b in s for i in b]
    assert len(seen) == len(set(seen))  # no utterance on two ranks
    assert sorted(map(tuple, (b for s in shards for b in s))) == sorted(
        map(tuple, whole[: len(whole) - len(whole) % 3])
    )


def test_collate_pads_and_keeps_integer_lengths():
    examples = [
        Example("a", torch.ones(3, 4), torch.tensor([1, 2]), "x"),
        Example("b", torch.full((5, 4), 2.0), torch.tensor([3]), "y"),
    ]
    batch = collate(examples)
    assert batch.features.shape == (2, 5, 4)
    assert batch.feature_lengths.tolist() == [3, 5] and batch.feature_lengths.dtype == torch.int64
    assert batch.features[0, 3:].abs().sum() == 0
    assert batch.targets.tolist() == [[1, 2], [3, 0]]
    assert batch.target_lengths.tolist() == [2, 1]
    assert batch.utt_ids == ["a", "b"] and batch.texts == ["x", "y"]


def test_waveform_batches_carry_samples_apart_and_become_the_loaders_features(tone_manifest):
    from asr.config import FeatureConfig
    from asr.data import AsrDataset
    from asr.features import FeatureExtractor
    from asr.manifest import read_manifest

    utts = read_manifest(tone_manifest)[:3]
    extractor = FeatureExtractor(FeatureConfig(n_mels=40))
    batch = collate([AsrDataset(utts, extractor, waveforms=True)[i] for i in range(3)])
    assert batch.features.shape == (3, 0, 40) and batch.waveforms is not None
    assert batch.waveform_lengths.tolist() == [round(u.duration * 16000) for u in utts]
    assert batch.waveforms.shape == (3, max(batch.waveform_lengths.tolist()))
    made = batch.with_features(extractor)
    assert made.waveforms is None and made.waveform_lengths is None
    loader_side = collate([AsrDataset(utts, extractor)[i] for i in range(3)])
    assert made.feature_lengths.tolist() == loader_side.feature_lengths.tolist()
    assert torch.allclose(made.features, loader_side.features, atol=1e-4)
