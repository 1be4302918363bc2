"""The sandbox's test controls under ``/sandbox/*``: opt-outs, a rate limit, faults, the clock, and every message.

None of these exist at Twilio; tests and benchmarks use them to make the sandbox refuse, slow
down or age as Twilio would, and to read back what the app sent.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from bot.sandbox.context import current

bp = Blueprint("sandbox_controls", __name__)


@bp.post("/sandbox/optouts")
def record_opt_out() -> Any:
    """Opt a number (``Phone``) out at "Twilio" only, of our number ``Sender`` or, without one, of all of ours (a
    STOP sent to another of the account's numbers, or to a Messaging Service)."""
    state = current().state
    with state.lock:
        state.opted_out.add((request.form.get("Phone", ""), request.form.get("Sender") or "*"))
    return jsonify({"opted_out": sorted(f"{phone} from {sender}" for phone, sender in state.opted_out)})


@bp.route("/sandbox/rate", methods=["GET", "POST"])
def rate() -> Any:
    """POST ``Mps``: creates accepted per sender per second (0: no limit). GET: the limit and how many were refused."""
    state = current().state
    with state.lock:
        if request.method == "POST":
            state.rate_mps = float(request.form.get("Mps", 0)) or None
            state.refused = 0
        return jsonify({"mps": state.rate_mps, "refused": state.refused})


@bp.post("/sandbox/faults")
def inject_fault() -> Any:
    """Make creating messages to ``To`` fail ``Count`` times with ``Status``/``Code``, or take ``LatencyS`` longer."""
    state = current().state
    with state.lock:
        state.faults[request.form["To"]] = {
            "status": int(request.form.get("Status", 500)), "code": int(request.form.get("Code", 20500)),
            "count": int(request.form.get("Count", 0)), "latency_s": float(request.form.get("LatencyS", 0)),
        }
        return jsonify(state.faults[request.form["To"]])


@bp.post("/sandbox/clock")
def clock() -> Any:
    """Move the sandbox's clock forward (``advance_s`` seconds), e.g. past the WhatsApp window."""
    state = current().state
    with state.lock:
        state.clock_offset_s += float(request.form.get("advance_s", 0))
        return jsonify({"clock_offset_s": state.clock_offset_s})


@bp.get("/sandbox/messages")
def all_messages() -> Any:
    """Every message with the sandbox's own details (ContentSid, StatusCallback, and the ``buttons`` a content
    template showed, ``[{"id", "title"}]``, with its ``content_type``), oldest first."""
    to = request.args.get("To")
    state = current().state
    with state.lock:
        rows = [dict(m) for m in state.messages.values() if not to or m["to"] == to]
    return jsonify(rows)
