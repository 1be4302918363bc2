"""M0's baseline: a bare Flask app that checks nothing and answers every POST with empty TwiML.

Served by gunicorn with the Procfile's web settings (``bench/load.py`` swaps ``app:app`` for
``bench.bare_app:app``), so the ratio M1 / M0 is Leadline's own cost per webhook.
"""

from flask import Flask, Response

app = Flask(__name__)


@app.post("/twilio/messages")
def messages() -> Response:
    return Response('<?xml version="1.0" encoding="UTF-8"?><Response />', mimetype="text/xml")


@app.get("/healthz")
def healthz() -> str:
    return "ok"
