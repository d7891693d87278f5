"""Downloads: URL -> verified archive -> safely extracted folder.

Resumable (an interrupted ``.part`` file continues with an HTTP Range request),
checked against a SHA-256 when one is published, extracted without letting any
member escape the target folder, and idempotent through a ``.completed`` sentinel.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tarfile
import urllib.request
import zipfile
from pathlib import Path

from asr.runtime import UserError

logger = logging.getLogger(__name__)
CHUNK = 1 << 20


class DownloadError(UserError, RuntimeError):
    """A download failed, its checksum did not match, or its archive is unsafe."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, dest: Path, sha256: str | None = None, timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``dest``; a partial ``dest.part`` is resumed where it stopped."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and (sha256 is None or sha256_of(dest) == sha256):
        return dest
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            resumed = offset and response.status == 206
            if offset and not resumed:
                logger.info("%s: server ignored the range request; downloading from the start", url)
            with part.open("ab" if resumed else "wb") as handle:
                shutil.copyfileobj(response, handle, CHUNK)
    except OSError as err:  # URLError, HTTPError, timeouts and connection resets
        raise DownloadError(f"{url}: download failed ({err}); run again to resume") from None
    if sha256 is not None:
        got = sha256_of(part)
        if got != sha256:
            part.unlink()
            raise DownloadError(f"{url}: SHA-256 {got} does not match the published {sha256}")
    else:
        logger.warning("%s: no published checksum; the file was not verified", url)
    part.replace(dest)
    return dest


def _check_member(name: str, target: Path) -> None:
    resolved = (target / name).resolve()
    if not resolved.is_relative_to(target.resolve()):
        raise DownloadError(f"archive member {name!r} would be written outside {target}")


def extract(archive: Path, target: Path) -> None:
    """Extract a .tar(.gz/.bz2/.xz) or .zip into ``target``, refusing members (or links)
    that point outside it."""
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                _check_member(name, target)
            zf.extractall(target)
        return
    try:
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for m in members:
                _check_member(m.name, target)
                if m.issym() or m.islnk():
                    _check_member(str(Path(m.name).parent / m.linkname), target)
                if m.isdev():
                    raise DownloadError(f"archive member {m.name!r} is a device file")
            tf.extractall(target, members=members, filter="data")
    except tarfile.TarError as err:
        raise DownloadError(f"{archive}: not a readable archive ({err})") from None


def fetch(url: str, target: Path, sha256: str | None = None) -> Path:
    """Download and extract ``url`` into ``target`` once; later calls return at once."""
    name = url.rstrip("/").rsplit("/", 1)[-1]
    sentinel = target / f".{name}.completed"
    if sentinel.exists():
        return target
    archive = download(url, target / name, sha256)
    extract(archive, target)
    sentinel.touch()
    archive.unlink()
    return target
