"""Downloads against a local HTTP server on 127.0.0.1 (Range support, so resuming is real)."""

import hashlib
import http.server
import io
import re
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from data_prep.download import DownloadError, download, extract, fetch


class RangeHandler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    requests: list[str | None] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = self.files.get(self.path)
        self.requests.append(self.headers.get("Range"))
        if body is None:
            self.send_error(404)
            return
        match = re.match(r"bytes=(\d+)-", self.headers.get("Range") or "")
        start = int(match[1]) if match else 0
        self.send_response(206 if match else 200)
        if match:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    RangeHandler.files, RangeHandler.requests = {}, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", RangeHandler
    httpd.shutdown()
    httpd.server_close()


def tar_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_resumes_a_partial_download(server, tmp_path):
    url, handler = server
    body = bytes(range(256)) * 400
    handler.files["/corpus.tar.gz"] = body
    (tmp_path / "corpus.tar.gz.part").write_bytes(body[:30000])  # as a killed run leaves it
    path = download(f"{url}/corpus.tar.gz", tmp_path / "corpus.tar.gz", hashlib.sha256(body).hexdigest())
    assert path.read_bytes() == body
    assert handler.requests == ["bytes=30000-"]
    assert not (tmp_path / "corpus.tar.gz.part").exists()


def test_checksum_mismatch_is_an_error(server, tmp_path):
    url, handler = server
    handler.files["/x.tar.gz"] = b"tampered"
    with pytest.raises(DownloadError, match="does not match"):
        download(f"{url}/x.tar.gz", tmp_path / "x.tar.gz", "0" * 64)
    assert not list(tmp_path.iterdir())  # nothing half-trusted is left behind


def test_missing_file_and_refused_connection(server, tmp_path):
    url, _ = server
    with pytest.raises(DownloadError, match="404"):
        download(f"{url}/nope.tar.gz", tmp_path / "nope.tar.gz")
    with pytest.raises(DownloadError, match="run again to resume"):
        download("http://127.0.0.1:9/x.tar.gz", tmp_path / "x.tar.gz", timeout=2)


def test_fetch_extracts_once(server, tmp_path):
    url, handler = server
    archive = tar_bytes({"LJSpeech-1.1/metadata.csv": b"LJ001-0001|a|a\n"})
    handler.files["/LJSpeech-1.1.tar.bz2"] = archive
    target = fetch(f"{url}/LJSpeech-1.1.tar.bz2", tmp_path, hashlib.sha256(archive).hexdigest())
    assert (target / "LJSpeech-1.1" / "metadata.csv").read_bytes() == b"LJ001-0001|a|a\n"
    assert not (tmp_path / "LJSpeech-1.1.tar.bz2").exists()  # the archive is removed after extraction
    fetch(f"{url}/LJSpeech-1.1.tar.bz2", tmp_path)  # the sentinel makes this a no-op
    assert len(handler.requests) == 1


@pytest.mark.parametrize("name", ["../escape.txt", "/abs/escape.txt", "a/../../escape.txt"])
def test_path_traversal_is_refused(tmp_path, name):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(tar_bytes({"ok.txt": b"fine", name: b"evil"}))
    with pytest.raises(DownloadError, match="outside"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out" / "ok.txt").exists()


def test_symlink_out_of_the_archive_is_refused(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        link = tarfile.TarInfo("data/link")
        link.type, link.linkname = tarfile.SYMTYPE, "../../etc/passwd"
        tf.addfile(link)
    (tmp_path / "l.tar.gz").write_bytes(buffer.getvalue())
    with pytest.raises(DownloadError, match="outside"):
        extract(tmp_path / "l.tar.gz", tmp_path / "out")


def test_zip_archives(tmp_path):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("free-spoken-digit-dataset-master/recordings/0_a_0.wav", b"RIFF")
    extract(path, tmp_path / "out")
    assert Path(tmp_path / "out" / "free-spoken-digit-dataset-master" / "recordings" / "0_a_0.wav").exists()
