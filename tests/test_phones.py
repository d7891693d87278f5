"""Pronunciations: CMUdict without stress, espeak-ng as the G2P for the words it lacks, and
`asr lexicon`."""

import random
import subprocess
import sys

import pytest

from asr.phones import ESPEAK_TO_ARPABET, PHONES, Lexicon, espeak_pronounce, phone_error_rate, strip_stress
from asr.runtime import MissingDependency


@pytest.fixture(scope="module")
def lexicon():
    return Lexicon.cmudict()


def test_stress_is_stripped():
    assert strip_stress(["HH", "AH0", "L", "OW1", "T", "OW2"]) == ["HH", "AH", "L", "OW", "T", "OW"]


def test_dictionary_words_take_cmudicts_first_pronunciation(lexicon):
    got = lexicon.pronounce(["Hello", "tomato", "hello"])
    assert got == {"hello": ["HH", "AH", "L", "OW"], "tomato": ["T", "AH", "M", "EY", "T", "OW"]}
    assert len(lexicon.entries) > 120_000


def test_unknown_words_are_spelled_by_espeak_in_arpabet(lexicon):
    got = lexicon.pronounce(["blorptastic", "zhivagoesque"])
    assert got["blorptastic"][:4] == ["B", "L", "AO", "R"] and got["blorptastic"][-2:] == ["IH", "K"]
    assert all(p in PHONES for phones in got.values() for p in phones)
    assert Lexicon(lexicon.entries, g2p=False).pronounce(["blorptastic"]) == {"blorptastic": []}


def test_the_g2p_is_within_twenty_percent_phone_error_of_cmudict(lexicon):
    """Measured on 2,000 random CMUdict words (most are names): 10.6% and 11.1% (seeds 0, 1)."""
    words = random.Random(2).sample(sorted(w for w in lexicon.entries if w.isalpha()), 300)
    per = phone_error_rate(espeak_pronounce(words), {w: lexicon.entries[w] for w in words})
    assert 0.02 < per < 0.2, per


def test_every_espeak_phoneme_of_real_words_has_an_arpabet_name(lexicon):
    words = random.Random(3).sample(sorted(w for w in lexicon.entries if w.isalpha()), 1000)
    text = "".join(f"{w}.\n" for w in words)
    out = subprocess.run(["espeak-ng", "-q", "-x", "-v", "en-us", "--sep= "], input=text, capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    names = {n.replace("'", "").replace(",", "") for line in out.splitlines() for n in line.split()}
    assert names - set(ESPEAK_TO_ARPABET) == set()


def test_phone_error_rate_counts_edits_against_the_closest_reference():
    refs = {"a": [["T", "AH", "M", "EY"], ["T", "AH", "M", "AA"]]}
    assert phone_error_rate({"a": ["T", "AH", "M", "AA"]}, refs) == 0.0
    assert phone_error_rate({"a": ["T", "M", "AA", "Z"]}, refs) == 0.5  # a deletion and an insertion


def test_a_missing_espeak_is_a_clear_error():
    with pytest.raises(MissingDependency, match="apt install espeak-ng"):
        espeak_pronounce(["word"], binary="no-such-espeak")


def test_the_lexicon_command_spells_words_and_files(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("seven\nblorptastic seven\n")
    done = subprocess.run([sys.executable, "-m", "asr", "lexicon", "Hello", str(words)], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["hello\tHH AH L OW", "seven\tS EH V AH N"]
    assert lines[2].startswith("blorptastic\tB L")
    assert len(lines) == 3


def test_spelling_or_hearing_sorts_substitutions_by_sound(lexicon):
    from asr.phones import spelling_or_hearing

    pairs = [("there", "their"), ("cat", "kat"), ("cat", "dog"), ("bed", "bad"), ("there", "their")]
    pairs.append(("a", ""))  # a deletion: not a substitution
    found = spelling_or_hearing(pairs, lexicon)
    assert (found.substitutions, found.sound_alike, found.one_phone_apart) == (5, 3, 1)  # bed/bad: EH -> AE
    assert found.examples[0] == ("there", "their", 2)
    assert found.char_errors == 2 + 1 + 3 + 1 + 2 and found.spelling_char_errors == 2 + 1 + 2


def test_the_report_says_how_much_is_spelling(tmp_path):
    from asr.report import write_html
    from tests.test_report import _decode_dir

    rows = [("u1", "s", "there is a cat", "their is a kat"), ("u2", "s", "a dog", "a cog")]
    folder = _decode_dir(tmp_path / "d", rows)
    page = write_html(folder).read_text()
    assert "<h2>Spelling or hearing</h2>" in page
    assert "Of 3 substituted words, 2 (66.67%) sound exactly as the reference word" in page
    assert "1 more are one phone apart" in page
