"""Hostile web answers: the Electricity Maps token never leaves its host, and no answer can take the memory.

Each client is run in a subprocess against a loopback server (tests/local_http.py) that streams a body far
larger than any real answer, plain or as a gzip bomb; the subprocess reports its peak RSS growth, which must
stay far below the body's size.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from tests.local_http import Answer, LocalServer, serve
from tracker.grid import electricitymaps
from tracker.grid.electricitymaps import ApiError, Client
from tracker.grid.zones import zone_table

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "secret-token-xyz"
BIG_MB = 160  # what a hostile server sends (decoded); every client must stop long before
GROWTH_LIMIT_KB = 48 * 1024


@pytest.fixture(autouse=True)
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    electricitymaps.reset()
    yield
    electricitymaps.reset()


def latest_body() -> dict:
    return {"zone": "DE", "carbonIntensity": 321, "datetime": "2024-01-01T00:00:00.000Z"}


def big_plain() -> Iterator[bytes]:
    block = b" " * 2**20
    for _ in range(BIG_MB):
        yield block


@cache
def bomb() -> bytes:
    """BIG_MB of zeros, gzip-compressed (about BIG_MB kilobytes on the wire)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(2**20)
    return b"".join([*(packer.compress(block) for _ in range(BIG_MB)), packer.flush()])


def big_gzip() -> Iterator[bytes]:
    data = bomb()
    for i in range(0, len(data), 65536):
        yield data[i : i + 65536]


# -- item 6: the token stays on its host ----------------------------------------------------------------------


def test_a_redirect_to_another_host_is_not_followed_and_gets_no_token(tmp_path: Path) -> None:
    with serve({("GET", "/v3/carbon-intensity/latest"): Answer(200, latest_body())}) as other:
        target = f"{other.url}/v3/carbon-intensity/latest?zone=DE"
        with serve({("GET", "/v3/carbon-intensity/latest"): Answer(302, headers={"Location": target})}) as api:
            client = Client(api_token=TOKEN, url=api.url + "/v3", cache_dir=tmp_path / "cache")
            with pytest.raises(ApiError) as caught:
                client.latest("DE")
            assert caught.value.kind == "redirect"
            assert api.count("/v3/carbon-intensity/latest") == 1
            assert api.seen[0].headers["auth-token"] == TOKEN
        assert other.seen == []  # not followed at all: neither the token nor the request went there
        assert not list((tmp_path / "cache").glob("*.json"))  # and nothing was cached as live data


def test_a_redirect_to_another_port_of_the_same_address_is_another_host(tmp_path: Path) -> None:
    with serve({("GET", "/v3/carbon-intensity/latest"): Answer(200, latest_body())}) as other:
        # 127.0.0.1 and "localhost" on other ports, and a scheme change, all leave the configured origin
        for target in (
            f"{other.url}/v3/carbon-intensity/latest",
            other.url.replace("127.0.0.1", "localhost") + "/v3/carbon-intensity/latest",
        ):
            with serve({("GET", "/v3/carbon-intensity/latest"): Answer(307, headers={"Location": target})}) as api:
                electricitymaps.reset()
                client = Client(api_token=TOKEN, url=api.url + "/v3", cache_dir=tmp_path / "cache")
                with pytest.raises(ApiError, match="redirected away"):
                    client.latest("DE")
        assert other.seen == []


def test_a_redirect_within_the_same_host_is_followed_with_the_token(tmp_path: Path) -> None:
    routes = {
        ("GET", "/v3/carbon-intensity/latest"): Answer(301, headers={"Location": "/v3b/latest?zone=DE"}),
        ("GET", "/v3b/latest"): Answer(200, latest_body()),
    }
    with serve(routes) as api:
        client = Client(api_token=TOKEN, url=api.url + "/v3", cache_dir=tmp_path / "cache")
        assert client.latest("DE").g_per_kwh == 321
        assert [s.path for s in api.seen] == ["/v3/carbon-intensity/latest", "/v3b/latest"]
        assert api.seen[1].headers["auth-token"] == TOKEN and api.seen[1].query == {"zone": ["DE"]}


def test_a_refused_redirect_falls_back_to_the_embedded_value_with_a_note() -> None:
    from datetime import datetime, timezone

    from tracker.grid.intensity import LiveIntensity
    from tracker.grid.location import Location

    with serve({("GET", "/v3/carbon-intensity/latest"): Answer(200, latest_body())}) as other:
        away = Answer(302, headers={"Location": f"{other.url}/v3/carbon-intensity/history"})
        with serve({("GET", "/v3/carbon-intensity/history"): away}) as api:
            provider = LiveIntensity(client=Client(api_token=TOKEN, url=api.url + "/v3"))
            hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
            (found,) = provider.intensities(Location("DE", "DE", "config"), [hour])
        assert "API v3" not in found.source and found.source == zone_table().get("DE").source
        assert "live intensity unavailable" in found.note and "redirect" in found.note
        assert other.seen == []


# -- item 7: a ceiling on every answer's decoded size ---------------------------------------------------------


def peak_growth_kb(code: str, url: str) -> tuple[int, str]:
    """Run ``code`` in a fresh interpreter (``URL`` bound); return its peak RSS growth in KiB and its output."""
    script = (
        "import resource, sys\n"
        f"URL = {url!r}\n"
        "import requests, tracker.grid.electricitymaps, tracker.grid.location\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        f"{code}\n"
        "print('GROWTH', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    growth = int(done.stdout.rsplit("GROWTH", 1)[1])
    return growth, done.stdout


ELECTRICITY_MAPS = """
from tracker.grid.electricitymaps import ApiError, Client
import pathlib, tempfile
client = Client(api_token="t", url=URL + "/v3", timeout=60, cache_dir=pathlib.Path(tempfile.mkdtemp()))
try:
    client.latest("DE")
    print("ACCEPTED")
except ApiError as exc:
    print("REFUSED", exc.kind, exc)
"""

GEOIP = """
from tracker.grid.location import ask_geoip
try:
    ask_geoip(URL + "/json/", 60)
    print("ACCEPTED")
except Exception as exc:
    print("REFUSED", type(exc).__name__, exc)
"""


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip-bomb"])
def test_electricity_maps_answers_have_a_ceiling(gzipped: bool) -> None:
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"} if gzipped else {}
    answer = Answer(200, headers=headers, stream=big_gzip if gzipped else big_plain)
    with serve({("GET", "/v3/carbon-intensity/latest"): answer}) as api:
        growth, out = peak_growth_kb(ELECTRICITY_MAPS, api.url)
    assert "REFUSED malformed" in out and "larger than" in out
    assert growth < GROWTH_LIMIT_KB, f"RSS grew {growth // 1024} MB for a {BIG_MB} MB answer"


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip-bomb"])
def test_geoip_answers_have_a_ceiling(gzipped: bool) -> None:
    headers = {"Content-Encoding": "gzip"} if gzipped else {}
    answer = Answer(200, headers=headers, stream=big_gzip if gzipped else big_plain)
    with serve({("GET", "/json/"): answer}) as geo:
        growth, out = peak_growth_kb(GEOIP, geo.url)
    assert "REFUSED TooLarge" in out
    assert growth < GROWTH_LIMIT_KB, f"RSS grew {growth // 1024} MB for a {BIG_MB} MB answer"


def test_a_large_error_body_is_cut_and_a_compressed_answer_still_works(tmp_path: Path) -> None:
    packed = zlib.compress(json.dumps(latest_body()).encode())
    with serve(
        {
            ("GET", "/v3/carbon-intensity/latest"): Answer(200, packed, headers={"Content-Encoding": "deflate"}),
            ("GET", "/v3/carbon-intensity/history"): Answer(404, stream=big_plain),
        }
    ) as api:
        client = Client(api_token=TOKEN, url=api.url + "/v3", cache_dir=tmp_path / "cache")
        assert client.latest("DE").g_per_kwh == 321
        assert api.seen[0].headers["accept-encoding"] == "gzip, deflate"
        with pytest.raises(ApiError, match="HTTP 404") as caught:
            client.history("DE")
        assert len(str(caught.value)) < 300


def test_pushgateway_replies_are_not_read_whatever_their_size() -> None:
    """The push reads no reply body (prometheus-client checks the status only): a huge or redirecting reply
    costs nothing. Guarded here so that a change of client keeps it so."""
    code = """
import time
import tracker
with tracker.track(pushgateway=URL, store=__import__("tempfile").mktemp(suffix=".csv"),
                   cpu_watts=1, gpu_watts=0, ram_watts=1, interval=0.05) as run:
    time.sleep(0.1)
print("NOTES", [n for n in run.notes if "push" in n])
"""
    for status, headers in ((200, {}), (302, {"Location": "/elsewhere"}), (500, {})):
        server = LocalServer()
        server.routes = _PutEverywhere(Answer(status, headers=headers, stream=big_plain))
        server.start()
        try:
            growth, out = peak_growth_kb(code, server.url)
        finally:
            server.stop()
        assert any(s.method == "PUT" for s in server.seen)
        assert growth < GROWTH_LIMIT_KB, f"HTTP {status}: RSS grew {growth // 1024} MB"
        assert ("NOTES []" in out) == (status == 200)


class _PutEverywhere(dict):
    """A route table that answers every PUT with the same answer."""

    def __init__(self, answer: Answer) -> None:
        super().__init__()
        self.answer = answer

    def get(self, key, default=None):  # type: ignore[no-untyped-def, override]
        return self.answer if key[0] == "PUT" else default
