"""report.html from `asr evaluate`, `asr report A B`, training plots and `asr plot`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
import soundfile

from asr import load_model
from asr.cli import main
from asr.evaluate import evaluate
from asr.report import aligned_words, breakdown, compare, confusions, read_decode_dir, write_html
from conftest import RATE, tiny_config, tone_speech

pytest.importorskip("matplotlib")


def test_aligned_words_marks_each_error_kind():
    assert aligned_words("the cat sat", "the hat sat") == [
        ("equal", "the", "the"),
        ("substitute", "cat", "hat"),
        ("equal", "sat", "sat"),
    ]
    assert ("delete", "big", "") in aligned_words("a big cat sat", "a cat sat")
    assert ("insert", "", "big") in aligned_words("a cat sat", "a big cat sat")
    assert aligned_words("", "a b") == [("insert", "", "a"), ("insert", "", "b")]
    assert aligned_words("a", "") == [("delete", "a", "")]


def _decode_dir(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """A decode dir as evaluate writes it: (id, speaker, ref, hyp) rows."""
    path.mkdir(parents=True)
    lines, errors_total, words_total = [], 0, 0
    for utt_id, speaker, ref, hyp in rows:
        errors = sum(op != "equal" for op, _, _ in aligned_words(ref, hyp))
        lines.append(
            {
                "id": utt_id,
                "ref": ref,
                "hyp": hyp,
                "errors": errors,
                "ref_words": len(ref.split()),
                "speaker": speaker,
                "audio": str(path / f"{utt_id}.wav"),
            }
        )
        errors_total += errors
        words_total += len(ref.split())
    (path / "hyps.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    summary = {
        "wer": errors_total / words_total,
        "cer": 0.0,
        "substitutions": 0,
        "deletions": 0,
        "insertions": 0,
        "ref_words": words_total,
        "ref_chars": 0,
        "utterances": len(rows),
    }
    (path / "wer.json").write_text(json.dumps(summary))
    return path


def test_breakdown_confusions_and_comparison(tmp_path):
    a = _decode_dir(
        tmp_path / "a",
        [
            ("u1", "s1", "one two three", "one two three"),
            ("u2", "s2", "four five", "for five"),
            ("u3", "s2", "six seven", "six"),
        ],
    )
    b = _decode_dir(
        tmp_path / "b",
        [
            ("u1", "s1", "one two three", "one to three"),
            ("u2", "s2", "four five", "four five"),
            ("u3", "s2", "six seven", "six seven"),
        ],
    )
    run = read_decode_dir(a)
    groups = breakdown(run.rows, lambda r: r.speaker)
    assert [(g.name, g.errors, g.words) for g in groups] == [("s2", 2, 4), ("s1", 0, 3)]  # worst first
    assert confusions(run.rows) == [("four", "for", 1), ("seven", "", 1)]
    c = compare(a, b)
    assert [ra.id for ra, _ in c.better] == ["u2", "u3"] and [ra.id for ra, _ in c.worse] == ["u1"]
    assert main(["report", str(a), str(b), "-o", str(tmp_path / "c.html")]) == 0
    page = (tmp_path / "c.html").read_text()
    assert "2 utterances better in B, 1 worse" in page and "four→for" in page
    assert c.bootstrap.delta == pytest.approx((1 - 2) / 7) and "Paired bootstrap by utterance" in page
    assert c.bootstrap_by_speaker.delta == pytest.approx((1 - 2) / 7) and "By speaker (2)" in page
    one = _decode_dir(tmp_path / "one", [("u1", "s1", "x y", "x")])
    assert compare(one, one).bootstrap_by_speaker is None  # one speaker: nothing to redraw
    page = write_html(a).read_text()  # decode dir written by hand: no info.json, audio files gone
    assert page.count("audio missing") == 3 and "<audio" not in page and "decoder settings unknown" in page
    c_other = _decode_dir(tmp_path / "c", [("u9", "s1", "x", "x")])
    with pytest.raises(ValueError, match="different utterances"):
        compare(a, c_other)


@pytest.fixture(scope="module")
def evaluated(trained_checkpoint, tone_manifest, tmp_path_factory):
    """Evaluate a manifest holding the tone corpus plus three awkward rows: a transcript with
    characters the model lacks, silence (an empty hypothesis) and a file that is gone."""
    folder = tmp_path_factory.mktemp("report")
    rows = [json.loads(line) for line in tone_manifest.read_text().splitlines()]
    for row in rows:
        row["audio_filepath"] = str(tone_manifest.parent / row["audio_filepath"])
        row["speaker"] = "tones"
    soundfile.write(folder / "silence.wav", np.zeros(RATE, np.float32), RATE)
    soundfile.write(folder / "odd.wav", tone_speech("ab", seed=5), RATE)
    rows += [
        {
            "id": "odd",
            "audio_filepath": str(folder / "odd.wav"),
            "duration": 1.0,
            "text": "ÀB <ünk> & 42",
            "speaker": "other",
        },
        {
            "id": "silence",
            "audio_filepath": str(folder / "silence.wav"),
            "duration": 1.0,
            "text": "A B",
            "speaker": "other",
        },
        {"id": "gone", "audio_filepath": str(folder / "gone.wav"), "duration": 1.0, "text": "B A"},
    ]
    manifest = folder / "eval.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = folder / "decode"
    recognizer = load_model(trained_checkpoint)
    return out, evaluate(recognizer, manifest, out, show_progress=False, figures=3)


def test_evaluate_writes_a_report_with_pictures(evaluated):
    out, report = evaluated
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3
    assert f"{100 * report.wer:.2f}%" in page
    assert "Unreadable (not scored)" in page and "gone.wav" in page
    info = json.loads((out / "info.json").read_text())
    assert info["decode"]["method"] == "greedy" and info["manifest"].endswith("eval.jsonl")
    assert info["precision"] == "fp32"
    assert "http://" not in page and "https://" not in page  # self-contained: no CDN


@pytest.mark.slow
@pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver")),
    reason="needs Debian's chromium and chromium-driver",
)
def test_report_renders_in_headless_chromium(evaluated):
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService
    from selenium.webdriver.common.by import By

    os.environ.setdefault("SE_OFFLINE", "true")
    out, _ = evaluated
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=DriverService(shutil.which("chromedriver")), options=options)
    try:
        driver.get((out / "report.html").as_uri())
        summary = json.loads((out / "wer.json").read_text())
        cells = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "#summary tr:nth-child(2) td")]
        assert cells[:2] == [f"{100 * summary['wer']:.2f}%", f"{100 * summary['cer']:.2f}%"]
        assert cells[2:7] == [
            str(summary[k]) for k in ("substitutions", "deletions", "insertions", "ref_words", "utterances")
        ]
        sources = [a.get_attribute("src") for a in driver.find_elements(By.TAG_NAME, "audio")]
        assert len(sources) == summary["utterances"]  # one player per scored row
        for src in sources:
            assert Path(unquote(urlparse(src).path)).is_file(), src
        images = driver.find_elements(By.TAG_NAME, "img")
        assert len(images) == 3
        assert all(
            driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", i) > 100
            for i in images
        )
        speakers = [r.text.split()[0] for r in driver.find_elements(By.CSS_SELECTOR, "#speakers tr")[1:]]
        assert sorted(speakers) == ["other", "tones"]
    finally:
        driver.quit()


@pytest.mark.slow
def test_training_writes_plots_and_asr_plot_overlays_runs(tone_manifest, tmp_path):
    from asr.plots import runs_figure
    from asr.train import train

    exp_dirs = []
    for name, lr in (("fast", "0.02"), ("slow", "0.002")):
        exp = tmp_path / name
        cfg = tiny_config(
            tone_manifest, exp, "train.epochs=2", "train.plots=True", f"train.lr={lr}", "train.log_every=1"
        )
        train(cfg, show_progress=False)
        exp_dirs.append(exp)
    names = {p.name for p in (tmp_path / "fast" / "plots").glob("*.png")}
    assert names == {"loss.png", "valid.png", "lr.png", "grad_norm.png", "steps.png", "overview.png"}
    assert main(["plot", *map(str, exp_dirs), "-o", str(tmp_path / "both.png")]) == 0
    assert (tmp_path / "both.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    labels = runs_figure(exp_dirs).axes[0].get_legend_handles_labels()[1]
    assert {"fast: train", "slow: train", "fast: valid", "slow: valid"} <= set(labels)
