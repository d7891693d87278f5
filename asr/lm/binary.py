"""KenLM's binary trie: ARPA -> a file the decoder maps instead of parsing (``asr lm binary``)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from asr.runtime import MissingDependency
from asr.sentences import compressed, open_text

logger = logging.getLogger(__name__)


def find_build_binary(tool: str | None = None) -> str:
    """KenLM's ``build_binary``: ``tool``, else $KENLM_BUILD_BINARY, the PATH, or beside Python."""
    found = tool or os.environ.get("KENLM_BUILD_BINARY") or shutil.which("build_binary")
    beside = Path(sys.executable).parent / "build_binary"  # tools/build_kenlm.sh puts it in .venv/bin
    found = found or (str(beside) if beside.is_file() else None)
    if not found or not shutil.which(found):
        raise MissingDependency(
            f"KenLM's build_binary program was not found ({tool or 'PATH, $KENLM_BUILD_BINARY'}); "
            "`bash tools/build_kenlm.sh` builds it into .venv/bin (cmake from PyPI, a C++ compiler, 30 s)"
        )
    return found


def compile_binary(
    arpa: Path, out: Path, quantize: int = 8, tool: str | None = None, memory: str = "1G"
) -> Path:
    """ARPA (plain, .gz, .xz or .bz2) -> KenLM's binary trie at ``out``, by KenLM's ``build_binary``.

    The decoder maps the binary instead of parsing text: the bundled 91 MB ARPA took 1.1 s to
    load, the binary 1 ms; with ``quantize`` bits per probability and backoff (0: none) it is
    16 MB against the gzipped ARPA's 27 MB, for one word of 4,439 on validation
    (recipes/default/RESULTS.md)."""
    program = find_build_binary(tool)
    arpa, out = Path(arpa), Path(out)
    if not arpa.is_file():
        raise FileNotFoundError(f"language model not found: {arpa}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        source = arpa
        if compressed(arpa):  # a build_binary compiled without zlib or lzma cannot read it
            source = Path(tmp) / arpa.stem
            with open_text(arpa) as src, open(source, "w", encoding="utf-8") as dst:
                shutil.copyfileobj(src, dst)
        bits = ["-q", str(quantize), "-b", str(quantize)] if quantize else []
        partial = Path(tmp) / out.name
        cmd = [program, "-S", memory, "-T", f"{tmp}/sort", *bits, "trie", str(source), str(partial)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not partial.is_file():
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise RuntimeError(f"build_binary failed on {arpa} (exit {done.returncode}):\n{tail}")
        os.replace(partial, out)  # whole or not at all
    logger.info("%s: KenLM binary trie%s, %.1f MB", out, f", {quantize}-bit" if quantize else "",
                out.stat().st_size / 1e6)  # fmt: skip
    return out
