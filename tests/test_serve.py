"""asr serve: the HTTP API with a real client on 127.0.0.1 (results, limits, a queue under
load) and the web page in headless Chromium (upload and microphone recording)."""

import concurrent.futures
import io
import json
import os
import shutil
import threading
import time

import numpy as np
import pytest
import soundfile
import torch

pytest.importorskip("fastapi")
import httpx  # noqa: E402
import uvicorn  # noqa: E402

from asr.load import load_model  # noqa: E402
from asr.manifest import read_manifest  # noqa: E402
from asr.serve import ServiceLimits, create_app, server_config  # noqa: E402
from asr.transcribe import transcribe  # noqa: E402
from tests.conftest import RATE  # noqa: E402


class Service:
    """uvicorn in a thread on a free port of 127.0.0.1, set up as ``asr serve`` sets it up."""

    def __init__(self, app, limits=None):
        self.server = uvicorn.Server(server_config(app, limits or ServiceLimits(), port=0))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            assert time.time() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=20)


def wav_bytes(seconds, rate=RATE):
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(int(seconds * rate), np.float32), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def tone_files(tone_manifest):
    return [u.audio_filepath for u in read_manifest(tone_manifest)]


@pytest.fixture(scope="module")
def service(trained_checkpoint):
    limits = ServiceLimits(max_mb=1.0, max_seconds=20.0, queue_size=32)
    with Service(create_app(load_model(trained_checkpoint), limits=limits), limits) as running:
        yield running


def post(url, data, name="a.wav", **kwargs):
    return httpx.post(f"{url}/transcribe", files={"file": (name, data)}, timeout=60, **kwargs)


def test_health_and_a_transcript_with_word_times(service, trained_checkpoint, tone_files):
    health = httpx.get(f"{service.url}/health").json()
    assert health["status"] == "ok" and health["queue_size"] == 32
    want = transcribe(load_model(trained_checkpoint), tone_files[3])[0]
    with open(tone_files[3], "rb") as f:
        response = post(service.url, f.read())
    assert response.status_code == 200
    body = response.json()
    assert body["text"] == want.text and body["text"]
    assert [w["word"] for w in body["words"]] == want.text.split()
    assert all(0 <= w["start"] < w["end"] <= body["duration"] + 0.05 for w in body["words"])


def test_an_onnx_model_serves_the_same_transcript(trained_checkpoint, tone_files, tmp_path):
    from asr.export import export_graph

    (onnx_file,) = export_graph(trained_checkpoint, tmp_path / "m.onnx", "onnx")
    want = transcribe(load_model(trained_checkpoint), tone_files[3])[0].text
    with Service(create_app(load_model(onnx_file))) as running, open(tone_files[3], "rb") as f:
        response = post(running.url, f.read())
    assert response.status_code == 200 and response.json()["text"] == want


def _stream_over_websocket(url, pcm, piece=3200):
    from websockets.sync.client import connect

    events = []
    with connect(url.replace("http", "ws") + "/stream") as socket:
        for i in range(0, len(pcm), piece):
            socket.send(pcm[i : i + piece])
        socket.send("end")
        for message in socket:  # until the server closes after the last final
            events.append(json.loads(message))
    return events


@pytest.mark.slow
def test_live_captions_over_a_websocket(streaming_checkpoint, service):
    pytest.importorskip("websockets")
    from tests.conftest import tone_stream

    texts = ["bead", "dab cab"]
    pcm = (tone_stream(texts) * 32767).astype("<i2").tobytes()
    with Service(create_app(load_model(streaming_checkpoint))) as running:
        assert httpx.get(f"{running.url}/health").json()["streaming"] is True
        events = _stream_over_websocket(running.url, pcm)
        assert [e["text"] for e in events if e["kind"] == "final"] == texts
        assert events[0]["kind"] == "partial" and all(
            e["latencies"] for e in events if e["kind"] == "partial"
        )
        assert [w["word"] for e in events if e["kind"] == "final" for w in e["words"]] == [
            "bead",
            "dab",
            "cab",
        ]
        odd = _stream_over_websocket(
            running.url, pcm[:-1], piece=1601
        )  # odd-sized messages: bytes carried over
        assert [e["text"] for e in odd if e["kind"] == "final"] == texts
        assert httpx.get(f"{running.url}/health").json()["streams"] == 0
    # a bidirectional model's service says it cannot stream, and refuses the socket
    assert httpx.get(f"{service.url}/health").json()["streaming"] is False
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus):
        _stream_over_websocket(service.url, pcm[:3200])


def test_limits_and_bad_requests(service):
    big = post(service.url, os.urandom(1_100_000))  # over 1 MB, refused by its Content-Length
    assert big.status_code == 413 and "over the limit of 1 MB" in big.json()["detail"]

    def chunks():  # no Content-Length: counted while it streams in
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        for _ in range(12):
            yield os.urandom(100_000)
        yield b"\r\n--x--\r\n"

    chunked = httpx.post(f"{service.url}/transcribe", content=chunks(), timeout=60,
                         headers={"Content-Type": "multipart/form-data; boundary=x"})  # fmt: skip
    assert chunked.status_code == 413
    long = post(service.url, wav_bytes(25.0))  # 0.8 MB, under the size limit
    assert long.status_code == 413 and "the limit is 20 s" in long.json()["detail"]
    junk = post(service.url, b"this is not audio", name="notes.txt")
    assert junk.status_code == 415 and "unreadable audio" in junk.json()["detail"]
    missing = httpx.post(f"{service.url}/transcribe", data={"other": "x"})
    assert missing.status_code == 422
    assert httpx.get(f"{service.url}/health").json()["queued"] == 0  # nothing leaked


@pytest.mark.slow
def test_concurrent_requests_are_all_served(service, trained_checkpoint, tone_files):
    want = {p: t.text for p, t in zip(tone_files, transcribe(load_model(trained_checkpoint), tone_files))}
    jobs = [tone_files[i % len(tone_files)] for i in range(24)]

    def one(path):
        with open(path, "rb") as f:
            return path, post(service.url, f.read())

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        results = list(pool.map(one, jobs))
    elapsed = time.perf_counter() - start
    assert [r.status_code for _, r in results] == [200] * 24
    assert all(r.json()["text"] == want[p] for p, r in results)
    assert elapsed < 60
    assert httpx.get(f"{service.url}/health").json()["queued"] == 0


class SlowModel(torch.nn.Module):
    """The real model, 0.5 s slower per call: keeps requests in the queue long enough to fill it."""

    def __init__(self, model):
        super().__init__()
        self.inner = model

    def forward(self, *args):
        time.sleep(0.5)
        return self.inner(*args)


@pytest.mark.slow
def test_a_full_queue_answers_503_and_recovers(trained_checkpoint, tone_files):
    recognizer = load_model(trained_checkpoint)
    recognizer.model = SlowModel(recognizer.model)
    with open(tone_files[0], "rb") as f:
        audio = f.read()
    limits = ServiceLimits(queue_size=3)
    with Service(create_app(recognizer, limits=limits), limits) as running:
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            codes = sorted(r.status_code for r in pool.map(lambda _: post(running.url, audio), range(12)))
        assert set(codes) == {200, 503} and 3 <= codes.count(200) < 12
        busy = post(running.url, audio)  # the queue has drained: served again
        assert busy.status_code == 200
        health = httpx.get(f"{running.url}/health").json()
        assert health["queued"] == 0 and health["served"] == codes.count(200) + 1


def _browser(fake_audio):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    flags = [
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={fake_audio}",
    ]
    for flag in flags:
        options.add_argument(flag)
    return webdriver.Chrome(service=DriverService(shutil.which("chromedriver")), options=options)


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("chromedriver")),
                    reason="needs Debian's chromium and chromium-driver")  # fmt: skip
def test_web_page_uploads_and_records_in_headless_chromium(service, trained_checkpoint, tone_files, tmp_path):
    pytest.importorskip("selenium")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must not look for drivers online
    want = transcribe(load_model(trained_checkpoint), tone_files[3])[0].text
    driver = _browser(tone_files[3])
    try:
        wait = WebDriverWait(driver, 60)
        driver.get(service.url + "/")
        assert driver.title == "asr"
        driver.find_element(By.ID, "file").send_keys(str(tone_files[3]))
        driver.find_element(By.ID, "upload").click()
        wait.until(lambda d: d.find_element(By.ID, "status").text.startswith(("done", "error", "request")))
        assert driver.find_element(By.ID, "status").text.startswith("done")
        assert driver.find_element(By.ID, "transcript").text == want
        rows = driver.find_elements(By.CSS_SELECTOR, "#words tr")
        assert len(rows) == 1 + len(want.split())  # header + one row per word

        served = httpx.get(f"{service.url}/health").json()["served"]
        driver.find_element(By.ID, "record").click()  # the fake microphone plays the tone file
        wait.until(lambda d: d.find_element(By.ID, "status").text.startswith(("recording", "microphone")))
        assert driver.find_element(By.ID, "status").text == "recording ..."
        time.sleep(2.0)
        driver.find_element(By.ID, "stop").click()
        wait.until(lambda d: d.find_element(By.ID, "status").text.startswith(("done", "error", "request")))
        status = driver.find_element(By.ID, "status").text
        assert status.startswith("done: 2."), status  # about 2 s of recorded audio came through
        assert httpx.get(f"{service.url}/health").json()["served"] == served + 1
    finally:
        driver.quit()


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("chromedriver")),
                    reason="needs Debian's chromium and chromium-driver")  # fmt: skip
def test_web_page_live_captions_in_headless_chromium(streaming_checkpoint, tmp_path):
    pytest.importorskip("selenium")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.conftest import tone_stream

    os.environ.setdefault("SE_OFFLINE", "true")
    microphone = tmp_path / "speech.wav"
    soundfile.write(microphone, tone_stream(["bead", "dab cab"], pause=1.0), RATE, subtype="PCM_16")
    with Service(create_app(load_model(streaming_checkpoint))) as running:
        driver = _browser(microphone)
        try:
            wait = WebDriverWait(driver, 60)
            driver.get(running.url + "/")
            wait.until(lambda d: d.find_element(By.ID, "live-box").is_displayed())
            driver.find_element(By.ID, "live").click()
            wait.until(lambda d: d.find_element(By.ID, "status").text.startswith(("listening", "live")))
            assert driver.find_element(By.ID, "status").text == "listening ..."
            wait.until(lambda d: d.find_element(By.ID, "captions").text.strip())  # a final arrived
            assert httpx.get(f"{running.url}/health").json()["streams"] == 1
            driver.find_element(By.ID, "live-stop").click()
            wait.until(lambda d: d.find_element(By.ID, "status").text.startswith(("live captions", "stream")))
            assert driver.find_element(By.ID, "status").text == "live captions ended"
            # Chromium's fake microphone loops the file from wherever it is when capture starts, so
            # the words are cut anywhere; what came through must still be the tone alphabet
            captions = driver.find_element(By.ID, "captions").text
            assert captions.strip() and set(captions) <= set("abcdefgh "), captions
        finally:
            driver.quit()
