"""Energy and CO2 per endpoint of a web service: a Starlette app under uvicorn (FastAPI works the same way).

    pip install 'tracker[web]'
    python examples/web_service.py            # serves on 127.0.0.1:8000 for 20 s while a client calls it
    tracker report --by endpoint              # then: energy, CO2e and CO2e per request of each endpoint

Every request is counted per route template (``/items/{item_id}``, never ``/items/42``), method and status
class; every ``interval_s`` (here 5 s, 60 by default) and at shutdown one record per endpoint goes to the store.
With ``metrics_port=9464`` the same figures are on ``http://127.0.0.1:9464/metrics``. See docs/web.md.

The Flask version of the same service is three lines::

    app = Flask(__name__)
    ...
    tracker.integrations.web.track_flask(app, project="shop", country="FR")
"""

from __future__ import annotations

import hashlib
import threading
import time
import urllib.request
from typing import Any

from starlette.applications import Starlette
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from tracker.integrations.web import TrackerASGIMiddleware


async def item(request: Any) -> JSONResponse:
    return JSONResponse({"item": request.path_params["item_id"]})


async def digest(request: Any) -> JSONResponse:
    """A CPU-heavy endpoint: it gets most of the service's energy."""
    data = b"x" * 1_000_000
    for _ in range(20):
        data = hashlib.sha256(data).digest() * 30_000
    return JSONResponse({"digest": hashlib.sha256(data).hexdigest()})


async def export(request: Any) -> StreamingResponse:
    async def rows() -> Any:
        for i in range(100):
            yield f"{i},row\n".encode()

    return StreamingResponse(rows(), media_type="text/csv")


app = Starlette(
    routes=[Route("/items/{item_id:int}", item), Route("/digest", digest), Route("/export", export)],
)
app.add_middleware(TrackerASGIMiddleware, project="shop", country="FR", interval_s=5)


def _client(stop: float) -> None:
    n = 0
    while time.monotonic() < stop:
        for path in (f"/items/{n % 50}", "/export", "/digest" if n % 10 == 0 else "/items/1"):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:8000{path}", timeout=5).read()
            except OSError:
                time.sleep(0.2)  # the server is still starting
        n += 1


def main() -> None:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=8000, log_level="warning"))
    threading.Thread(target=_client, args=(time.monotonic() + 20,), daemon=True).start()
    threading.Timer(21, lambda: setattr(server, "should_exit", True)).start()
    server.run()  # the lifespan shutdown writes the last interval
    print("done: try `tracker report --by endpoint`")


if __name__ == "__main__":
    main()
