import torch

from asr.decode import greedy_decode, greedy_ids
from asr.text import Vocabulary


def table(*frames):
    """Log-probs [1, T, V] from rows of per-token probabilities."""
    return torch.log(torch.tensor([frames], dtype=torch.float32))


def test_repeats_collapse_and_blanks_separate():
    # best path: a a _ a b b _ _ -> ids [a, a, b]
    lp = table(
        [0.1, 0.8, 0.1],
        [0.1, 0.8, 0.1],
        [0.8, 0.1, 0.1],
        [0.1, 0.8, 0.1],
        [0.1, 0.1, 0.8],
        [0.1, 0.1, 0.8],
        [0.9, 0.05, 0.05],
        [0.9, 0.05, 0.05],
    )
    assert greedy_ids(lp, torch.tensor([8])) == [[1, 1, 2]]


def test_all_blank_gives_empty():
    lp = table([0.9, 0.05, 0.05], [0.9, 0.05, 0.05])
    assert greedy_ids(lp, torch.tensor([2])) == [[]]


def test_lengths_cut_padding():
    lp = torch.log(
        torch.tensor(
            [
                [[0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.1, 0.1, 0.8]],
                [[0.1, 0.1, 0.8], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1]],
            ]
        )
    )
    assert greedy_ids(lp, torch.tensor([1, 3])) == [[1], [2, 1]]


def test_greedy_decode_text_and_score():
    vocab = Vocabulary.build(["ab"])  # <blank>, a, b
    lp = table([0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8])
    (hyp,) = greedy_decode(lp, torch.tensor([3]), vocab, ["u1"])
    assert hyp.utt_id == "u1" and hyp.text == "ab" and hyp.token_ids == [1, 2]
    assert abs(hyp.score - float(torch.log(torch.tensor([0.8, 0.7, 0.8])).sum())) < 1e-5


def test_greedy_score_counts_only_the_frames_inside_each_length():
    """Padding frames after a row's length must not add to its score (``hyps.jsonl`` keeps it)."""
    vocab = Vocabulary(["<blank>", " ", "a", "b"])
    probs = torch.tensor([[0.1, 0.1, 0.7, 0.1], [0.6, 0.2, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]])
    short = probs.log()  # 3 frames
    padded = torch.cat([short, torch.full((4, 4), -0.5)])  # 4 frames of padding that are not zeros
    batch = torch.stack([torch.cat([short, short[:1]] * 2)[:7], padded])
    hyps = greedy_decode(batch, torch.tensor([7, 3]), vocab, ["long", "short"])
    want = float(probs.max(dim=1).values.log().sum())
    assert hyps[1].text == "ab" and abs(hyps[1].score - want) < 1e-5
    (alone,) = greedy_decode(short[None], torch.tensor([3]), vocab, ["short"])
    assert abs(alone.score - hyps[1].score) < 1e-5
