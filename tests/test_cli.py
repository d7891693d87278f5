"""The ``asr`` command on the session's tiny trained model (see conftest).

The model has overfitted 8 tone utterances, so inputs here are those same signals
(``tone_speech(TINY_TEXTS[i], seed=i)``), written anew in other formats and places."""

import io
import json
import os
import subprocess
import sys

import pytest
import soundfile
import torch
import yaml

import asr
import asr.cli
import asr.folders
from asr.cli import main
from asr.decode import make_decoder
from asr.manifest import read_manifest
from conftest import TINY_OVERRIDES, TINY_TEXTS, tone_speech

pytestmark = pytest.mark.slow


def test_train_from_a_yaml_file(tone_manifest, tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "exp_dir": str(tmp_path / "exp"),
                "data": {
                    "train_manifest": str(tone_manifest),
                    "valid_manifest": str(tone_manifest),
                },
            }
        )
    )
    settings = [*TINY_OVERRIDES, "train.epochs=2", "train.tensorboard=True"]
    overrides = [arg for o in settings for arg in ("--set", o)]
    assert main(["train", str(config), *overrides, "-q"]) == 0
    assert "best checkpoint:" in capsys.readouterr().out
    assert (tmp_path / "exp" / "checkpoints" / "best.pt").is_file()
    assert list((tmp_path / "exp" / "tb").glob("events.out.tfevents.*"))
    # Running it again without --resume would overwrite the run: refused, exit 2.
    assert main(["train", str(config), *overrides, "-q"]) == 2
    assert main(["train", str(config), *overrides, "--set", "train.epochs=3", "--resume", "-q"]) == 0


def test_evaluate_json(trained_checkpoint, tone_manifest, capsys):
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(trained_checkpoint),
                "--manifest",
                str(tone_manifest),
                "--json",
                "-q",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["utterances"] == len(TINY_TEXTS)
    assert result["cer"] < 0.1 and {"wer", "substitutions", "deletions", "insertions"} <= set(result)
    # Default output folder: <exp>/decode/<manifest stem>/
    decode_dir = trained_checkpoint.parent.parent / "decode" / tone_manifest.stem
    assert (decode_dir / "hyps.jsonl").is_file() and (decode_dir / "errors.txt").is_file()


def test_transcribe_matches_evaluate(trained_checkpoint, tone_manifest, capsys):
    utts = read_manifest(tone_manifest)
    files = [str(u.audio_filepath) for u in utts]
    assert main(["transcribe", *files, "--model", str(trained_checkpoint), "-q"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == files  # input order kept
    got = [line.split("\t")[1] for line in lines]
    hyps = trained_checkpoint.parent.parent / "decode" / tone_manifest.stem / "hyps.jsonl"
    if hyps.exists():  # batched evaluation and transcription agree
        by_id = {r["id"]: r["raw_hyp"] for r in map(json.loads, hyps.read_text().splitlines())}
        assert got == [by_id[u.id] for u in utts]
    assert sum(g == t for g, t in zip(got, TINY_TEXTS)) >= len(TINY_TEXTS) - 1


def test_transcribe_one_file_prints_text_only(trained_checkpoint, tmp_path, capsys):
    path = tmp_path / "one.flac"
    soundfile.write(path, tone_speech("cab", seed=1), 16000)  # = training utt1, as FLAC
    assert main(["transcribe", str(path), "--model", str(trained_checkpoint), "-q"]) == 0
    assert capsys.readouterr().out.strip() == "cab"


def test_transcribe_keeps_going_after_a_bad_file(trained_checkpoint, tmp_path, capsys):
    good = tmp_path / "good.wav"
    soundfile.write(good, tone_speech("bad", seed=2), 16000)
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    code = main(
        [
            "transcribe",
            str(bad),
            str(good),
            str(tmp_path / "missing.wav"),
            "--model",
            str(trained_checkpoint),
            "--format",
            "json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0  # one file worked: failures are reported, not fatal
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["source"] for r in rows] == [str(good)] and rows[0]["text"] == "bad"
    assert "bad.wav: not a readable audio file" in captured.err
    assert "missing.wav: file not found" in captured.err
    assert "2 of 3 files could not be transcribed" in captured.err


def test_transcribe_folders_to_an_output_dir_and_resume(trained_checkpoint, tmp_path, capsys, monkeypatch):
    built = []  # decoders made: one per command, not one per chunk of files (a beam decoder loads its LM)
    monkeypatch.setattr(asr.folders, "make_decoder", lambda *a: built.append(a) or make_decoder(*a))
    monkeypatch.setattr(asr.folders, "CHUNK", 1)
    corpus = tmp_path / "in"
    for sub, text in (("a", "bad"), ("b", "cab"), ("b/c", "face")):
        (corpus / sub).mkdir(parents=True, exist_ok=True)
        soundfile.write(corpus / sub / "x.wav", tone_speech(text, seed=3), 16000)  # same name, three folders
    (corpus / "b" / "broken.wav").write_text("not audio")
    out = tmp_path / "out"
    args = ["transcribe", str(corpus), "--model", str(trained_checkpoint), "--output-dir", str(out), "-q"]
    assert main(args) == 0
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.txt"))
    assert written == ["a/x.txt", "b/c/x.txt", "b/x.txt"]
    assert len(built) == 1
    direct = asr.transcribe(asr.load_model(trained_checkpoint), corpus / "b" / "c" / "x.wav")[0].text
    assert (out / "b" / "c" / "x.txt").read_text().strip() == direct
    assert "broken.wav" in capsys.readouterr().err

    (out / "a" / "x.txt").write_text("kept\n")  # done already: --resume must not redo it
    (out / "b" / "x.txt").unlink()  # lost: --resume must redo it
    assert main([*args, "--resume"]) == 0
    assert (out / "a" / "x.txt").read_text() == "kept\n"
    assert (out / "b" / "x.txt").read_text().strip() != ""
    assert not list(out.rglob("*.part")) and not list(out.rglob(".*.tmp"))  # no temporary file left


def test_transcribe_exits_1_when_no_file_could_be_read(trained_checkpoint, tmp_path):
    (tmp_path / "bad.wav").write_text("not audio")
    assert main(["transcribe", str(tmp_path / "bad.wav"), "--model", str(trained_checkpoint), "-q"]) == 1
    assert main(["transcribe", "x.wav", "--model", str(trained_checkpoint), "--resume", "-q"]) == 2


def test_python_api_accepts_waveforms(trained_checkpoint):
    model = asr.load_model(trained_checkpoint)
    waves = [torch.from_numpy(tone_speech(TINY_TEXTS[i], seed=i)) for i in (3, 7)]
    assert [t.text for t in asr.transcribe(model, waves)] == ["dab cab", "face"]


def test_bad_manifest_line_is_named(trained_checkpoint, tmp_path, capsys):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"audio_filepath": "a.wav", "duration": 1, "text": "a"}\n{oops\n')
    assert main(["evaluate", "--model", str(trained_checkpoint), "--manifest", str(manifest)]) == 2
    assert f"{manifest}:2: not valid JSON" in capsys.readouterr().err


def test_missing_model(tmp_path, capsys):
    assert main(["transcribe", "x.wav", "--model", str(tmp_path / "nope.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_subprocess_smoke(trained_checkpoint, tmp_path):
    path = tmp_path / "s.wav"
    soundfile.write(path, tone_speech("abc", seed=0), 16000)
    done = subprocess.run(
        [sys.executable, "-m", "asr", "transcribe", str(path), "--model", str(trained_checkpoint)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "abc"


def test_flac_from_a_pipe_on_stdin(trained_checkpoint):
    """``ffmpeg ... -f flac - | asr transcribe -``: a stream that cannot seek, whose header has no length."""
    from tests.test_audio import _without_length

    buffer = io.BytesIO()
    soundfile.write(buffer, tone_speech("abc", seed=0), 16000, format="FLAC")
    command = [sys.executable, "-m", "asr", "transcribe", "-", "--model", str(trained_checkpoint)]
    done = subprocess.run(command, input=_without_length(buffer.getvalue()), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == "abc"


def test_a_closed_pipe_ends_quietly(trained_checkpoint, tmp_path):
    """`asr transcribe ... | head -1`: the reader is gone before the first line is written."""
    path = tmp_path / "s.wav"
    soundfile.write(path, tone_speech("abc", seed=0), 16000)
    read, write = os.pipe()
    os.close(read)  # nobody will read: the first print raises BrokenPipeError
    with os.fdopen(write, "w") as stdout:
        done = subprocess.run(
            [sys.executable, "-m", "asr", "transcribe", str(path), "--model", str(trained_checkpoint)],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr and "Exception" not in done.stderr, done.stderr


def test_every_flag_of_every_command_says_what_it_does():
    import argparse

    def undocumented(parser, prefix="asr"):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from undocumented(sub, f"{prefix} {name}")
            elif not action.help and not isinstance(action, argparse._HelpAction):
                yield f"{prefix} {'/'.join(action.option_strings) or action.dest}"

    assert list(undocumented(asr.cli.build_parser())) == []
    import data_prep

    for corpus in data_prep.PREPARERS:  # their arguments are parsed by their own parsers
        parser = argparse.ArgumentParser(prog=f"asr prep {corpus}")
        data_prep.preparer(corpus).add_arguments(parser)
        assert list(undocumented(parser, f"asr prep {corpus}")) == []
    commands = asr.cli.build_parser()._subparsers._group_actions[0].choices
    decoder = next(a for a in commands["transcribe"]._actions if "--decoder" in a.option_strings)
    assert "(greedy)" not in decoder.help  # the bundled model decodes with beam search


def test_decode_folders_default_under_exp():
    """Without --out, a model outside exp/checkpoints/ decoded into ./decode/, which git did not ignore."""
    from pathlib import Path

    from asr.cli.model import _default_decode_dir

    assert _default_decode_dir(Path("e/checkpoints/best.pt"), Path("d/test.jsonl")) == Path("e/decode/test")
    assert _default_decode_dir(Path("dist/model.pt"), Path("d/test.jsonl")) == Path("exp/decode/test")


def test_decode_flags_come_from_decode_config_and_are_range_checked(trained_checkpoint, capsys):
    import dataclasses

    from asr.config import DecodeConfig

    commands = asr.cli.build_parser()._subparsers._group_actions[0].choices
    flags = {a.dest for a in commands["transcribe"]._actions}
    documented = {f.name for f in dataclasses.fields(DecodeConfig) if f.metadata.get("help")}
    assert documented <= flags and {"chunk_seconds", "beam_threshold", "precision"} <= documented
    wav = str(trained_checkpoint.parent)  # never read: the flags are refused first
    for bad in (["--beam-size", "0"], ["--beam-threshold", "-1"], ["--batch-seconds", "-5"]):
        assert main(["transcribe", wav, "--model", str(trained_checkpoint), *bad]) == 2
        assert "decode." in capsys.readouterr().err


def test_transcribe_files_is_api(trained_checkpoint, tmp_path):
    from asr.folders import transcribe_files

    soundfile.write(tmp_path / "a.wav", tone_speech("cab", seed=1), 16000)
    model = asr.load_model(trained_checkpoint)
    (result,) = transcribe_files(model, [tmp_path / "a.wav"], tmp_path / "out", "json")
    assert result.output == tmp_path / "out" / "a.json" and json.loads(result.output.read_text())["text"]
    assert list(transcribe_files(model, [tmp_path / "a.wav"], tmp_path / "out", "json", resume=True)) == []


def test_a_folder_without_audio_is_named_once(trained_checkpoint, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    soundfile.write(tmp_path / "a.wav", tone_speech("cab", seed=1), 16000)
    args = ["transcribe", str(tmp_path / "empty"), str(tmp_path / "a.wav"), f"--model={trained_checkpoint}"]
    assert main(args) == 0
    assert capsys.readouterr().err.count("no audio files") == 1
