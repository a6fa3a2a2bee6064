"""The Flask app that ``test_web_server.py`` serves with werkzeug's threaded WSGI server in a subprocess, until
SIGTERM. ``python web_flask_app.py PORT STORE``."""

from __future__ import annotations

import sys

from flask import Flask
from werkzeug.serving import make_server

from tracker.integrations.web import track_flask

app = Flask("served")


@app.get("/items/<int:item_id>")
def item(item_id: int) -> str:
    return f"item {item_id}"


if __name__ == "__main__":
    port, store = int(sys.argv[1]), sys.argv[2]
    track_flask(app, project="flask-server", store=store, interval_s=3600)  # measuring starts here, main thread
    make_server("127.0.0.1", port, app, threaded=True).serve_forever()
