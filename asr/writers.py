"""Writers: :class:`~asr.transcribe.Transcript` -> txt / json / srt / vtt text.

Subtitle cues group consecutive words, starting a new cue after a pause, or when a cue
would pass ``MAX_CUE_SECONDS`` or ``MAX_CUE_CHARS`` (whisper's writers use the same
formats; the grouping here comes from word times, as CTC models have no segments).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asr.timing import Word
    from asr.transcribe import Transcript

MAX_CUE_SECONDS = 6.0
MAX_CUE_CHARS = 84  # two lines of 42
PAUSE_SECONDS = 0.8


def cues(words: list[Word]) -> list[tuple[float, float, str]]:
    """(start, end, text) subtitle cues from timed words."""
    groups: list[list[Word]] = []
    for word in words:
        if groups:
            last = groups[-1]
            text_len = sum(len(w.word) + 1 for w in last) + len(word.word)
            if (word.start - last[-1].end < PAUSE_SECONDS and word.end - last[0].start <= MAX_CUE_SECONDS
                    and text_len <= MAX_CUE_CHARS):  # fmt: skip
                last.append(word)
                continue
        groups.append([word])
    return [(g[0].start, g[-1].end, " ".join(w.word for w in g)) for g in groups]


def _timestamp(seconds: float, separator: str) -> str:
    ms = int(round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def to_txt(t: Transcript) -> str:
    return t.text + "\n"


def to_json(t: Transcript) -> str:
    return json.dumps(asdict(t), ensure_ascii=False) + "\n"


def to_srt(t: Transcript) -> str:
    blocks = [
        f"{i}\n{_timestamp(s, ',')} --> {_timestamp(e, ',')}\n{text}\n"
        for i, (s, e, text) in enumerate(cues(t.words), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(t: Transcript) -> str:
    blocks = [f"{_timestamp(s, '.')} --> {_timestamp(e, '.')}\n{text}\n" for s, e, text in cues(t.words)]
    return "WEBVTT\n\n" + "\n".join(blocks)


WRITERS: dict[str, Callable[[Transcript], str]] = {
    "txt": to_txt,
    "json": to_json,
    "srt": to_srt,
    "vtt": to_vtt,
}
