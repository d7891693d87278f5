"""SHA-256 seals: a model file carries the digest of its own bytes, and of each file beside it
that it names (LM, lexicon), so a flipped byte anywhere in a model folder is refused, naming
the file, instead of silently changing transcripts (PyTorch, onnxruntime and KenLM accepted
such files: no check of theirs covers the weights).

The seal is the last 75 bytes of the file, ``asr-sha256:`` and the hex digest of every byte
before the hex, placed where the format ignores it: the ZIP archive comment of a checkpoint or
TorchScript file (both are ZIP archives), or an unknown field at the end of an ONNX protobuf.
A file without a seal (written before seals existed) loads as before.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from asr._types import PathLike
from asr.runtime import UserError

_MARK = b"asr-sha256:"
_HEX = 64
_SEAL = len(_MARK) + _HEX
_ZIP_END = b"PK\x05\x06"  # end-of-central-directory record: 22 bytes, the last 2 the comment length
_ONNX_TAG = bytes([0xC2, 0x3E])  # field 1000, length-delimited: not a field of ModelProto


class IntegrityError(UserError, RuntimeError):
    """A file's bytes differ from the digest recorded for them; the message names the file."""


def digest(path: PathLike) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def sealed(data: bytes, kind: str) -> bytes:
    """``data`` (a fresh ZIP archive, or ONNX protobuf when ``kind`` is "onnx") with its seal."""
    if kind == "onnx":
        head = data + _ONNX_TAG + bytes([_SEAL]) + _MARK
    else:
        if data[-22:-18] != _ZIP_END or data[-2:] != b"\0\0":
            raise ValueError("only a ZIP archive without a comment can be sealed")
        head = data[:-2] + _SEAL.to_bytes(2, "little") + _MARK
    return head + hashlib.sha256(head).hexdigest().encode()


def seal_file(path: PathLike, kind: str) -> None:
    """Seal a file just written (before it is renamed into place)."""
    path = Path(path)
    path.write_bytes(sealed(path.read_bytes(), kind))


def check(data: bytes, where: PathLike) -> bool:
    """True if ``data`` carries a seal that matches; False if it has none.

    Raises:
        IntegrityError: the seal does not match: some byte of the file changed after it was written.
    """
    in_zip = data[-_SEAL - 22 : -_SEAL - 18] == _ZIP_END and data[-_SEAL - 2 : -_SEAL] == bytes([_SEAL, 0])
    framed = in_zip or data[-_SEAL - 3 : -_SEAL] == _ONNX_TAG + bytes([_SEAL])
    if data[-_SEAL:-_HEX] != _MARK and not framed:  # a flipped byte in the mark still leaves the frame
        return False
    if hashlib.sha256(data[:-_HEX]).hexdigest().encode() != data[-_HEX:]:
        raise IntegrityError(
            f"{where}: damaged: its bytes do not match the SHA-256 sealed into it when it was written "
            "(a copy cut short or changed); copy or export it again"
        )
    return True


def check_file(path: PathLike) -> bool:
    """:func:`check` on a file's bytes."""
    return check(Path(path).read_bytes(), path)


def check_beside(recorded: dict[str, str], files: dict[str, str]) -> None:
    """Check the files a model uses (``files``: role -> path) against the digests it recorded
    for them by file name; a file it did not record (``--lm`` given by hand) is not checked.

    Raises:
        IntegrityError: a recorded file's digest differs.
    """
    for role, path in files.items():
        want = recorded.get(Path(path).name)
        if want is not None and Path(path).is_file() and digest(path) != want:
            raise IntegrityError(
                f"{path}: damaged: the {role} differs from the one this model was exported with "
                "(its SHA-256 does not match); copy the model folder again"
            )
