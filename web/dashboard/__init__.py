"""``/dashboard``: the owner's and reps' work queue and lead pages, server-rendered.

Sessions. Login is the owner's ``DASHBOARD_PASSWORD``. A login opens a server-side session (:mod:`web.signin`): a random id
(256 bits) goes into Flask's signed cookie (signed with ``SECRET_KEY``, which settings require while the
dashboard is open and which is never derived from the password; HttpOnly, SameSite=Lax, Secure behind
https), and Redis keeps only the id's SHA-256, as ``leadline:dashboard-session:<sha256>``, for 12 hours from
login. Every dashboard request looks the id up: logout deletes it, so a copied cookie stops working in every
web process at once, and a cookie without a live id (an old one, or one signed with a derived key) opens
nothing. With Redis down, the look-up fails and the request is answered 503: nobody is let in unchecked.
Every form carries a CSRF token (Flask-WTF).

Headers. Every response under ``/dashboard`` (pages, redirects, errors, 404s, the CSV export, static files)
carries :data:`SECURITY_HEADERS`: a Content-Security-Policy allowing only the dashboard's own scripts, styles
and images (the templates have no inline script or style), no framing, ``nosniff`` and ``no-referrer``; all
but the static files also carry ``Cache-Control: no-store``, since they hold personal data.

Throttle. Each login attempt from a client address first takes a slot in Redis
(``leadline:login-failures:<address>``, one atomic transaction: created with a 15-minute expiry, then
incremented); an attempt whose slot is past the 10th in that window is refused with 429 before the password
is checked, so at most 10 wrong passwords per address are ever checked in 15 minutes, however many arrive
at once and however many web processes serve them. A right password gives its slot back, so only wrong
ones add up. The first refusal in a window is a lockout: logged (WARNING, the address only) and counted in
Redis (:mod:`web.signin`). The client address is the socket's peer, unless ``TRUSTED_PROXIES`` (n > 0)
says n reverse proxies append to ``X-Forwarded-For``: then werkzeug's ``ProxyFix`` reads it n hops from the
right. With 0 the header is ignored, so a client cannot pick its own address.

Inputs. Ids in URLs are ``<row_id:...>`` (ASCII digits, 1 to :data:`store.bounds.MAX_ID`; anything else is
404), the queue's ``page`` is bounded so its offset fits, and login's ``next`` must be a plain
``/dashboard`` path (printable ASCII, no control characters), else the queue.
"""

from __future__ import annotations

import csv
import hmac
import io
import logging
import re
import secrets
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, ValidationError

from bot.reps import actions as lead_actions
from bot.reps.actions import ActionRefused, Actor
from cadence.clock import next_call_opening
from graph.texts import display
from store.bounds import MAX_COUNT, MAX_DIGITS, bounded_int, parse_instant, row_id
from store.leads import CLOSED_STATUSES
from store.models import LEAD_STATUSES, LOST_REASONS, Lead, Message, utcnow
from store.report import FIELDS, owner_report
from store.work_queue import timeline, work_queue
from web.signin import (
    LOGIN_LIMIT,
    SESSION_LIFETIME,
    close_session,
    give_back_login_attempt,
    lock_out,
    open_session,
    session_is_live,
    take_login_attempt,
)

log = logging.getLogger(__name__)
# The templates and the stylesheet stay in web/templates and web/static, where the package data points.
bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", root_path=str(Path(__file__).parent.parent),
               template_folder="templates", static_folder="static", static_url_path="/static")
csrf = CSRFProtect()

PAGE_SIZE = 100
MAX_PAGE = MAX_COUNT // PAGE_SIZE
"""Highest queue page: its ``OFFSET`` (``(page - 1) * PAGE_SIZE``) stays within a 32-bit count."""
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
SECURITY_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Frame-Options": "DENY",
                    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
"""Set on every response under ``/dashboard``; all but the static files served also get ``Cache-Control: no-store``."""

_SAFE_NEXT = re.compile(r"/dashboard(?:[/?#][\x21-\x5b\x5d-\x7e]{0,2000})?")
"""Where a login may send the browser on: a ``/dashboard`` path in printable ASCII without spaces, backslashes
or control characters (a CR/LF would not even fit in a ``Location`` header)."""

class RowIdConverter(IntegerConverter):
    """``<row_id:name>`` in a route: a row id, 1 to :data:`store.bounds.MAX_ID` in ASCII digits
    (:func:`store.bounds.row_id`). Anything else does not match, so the route answers 404, not a 500 from an
    id the database cannot hold (werkzeug's ``int`` takes any length and Unicode digits)."""

    regex = r"[0-9]{1,%d}" % MAX_DIGITS

    def to_python(self, value: str) -> int:
        try:
            return row_id(value)
        except ValueError:
            raise ValidationError() from None


def init_app(app: Flask) -> None:
    """Wire the dashboard into ``app``: its secret key, cookie flags, CSRF (checked on the dashboard's forms
    only), the ``row_id`` URL converter, the security headers and, with ``TRUSTED_PROXIES`` > 0, ``ProxyFix``."""
    settings = app.extensions["leadline"].settings
    # Settings refuse an open dashboard without SECRET_KEY; with the dashboard closed nothing is signed that
    # another process must read, so a random key serves.
    key = settings.secret_key.get_secret_value() if settings.secret_key is not None else secrets.token_hex(32)
    app.config.update(SECRET_KEY=key, WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_TIME_LIMIT=None,
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=settings.public_base_url.startswith("https://"),
                      PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME)
    if settings.trusted_proxies > 0:
        # Only the hops we were told about are believed: the rest of X-Forwarded-For is the client's to forge.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
    app.url_map.converters["row_id"] = RowIdConverter  # before the blueprint's rules are bound
    csrf.init_app(app)
    app.register_blueprint(bp)


@bp.app_template_filter("localtime")
def localtime(value: Any, zone: str) -> str:
    """A UTC instant in the lead's (or business's) zone, e.g. ``Nov 23 09:00 MST``."""
    return value.astimezone(ZoneInfo(zone)).strftime("%b %d %H:%M %Z")


@bp.app_template_filter("answer")
def answer(value: Any) -> str:
    """A stored answer as a person reads it (``yes`` for True)."""
    return display(value)


# --- every request ----------------------------------------------------------------------------------------

@bp.before_request
def _guard() -> Any:
    if request.method == "POST":
        csrf.protect()
    if request.endpoint in ("dashboard.login", "dashboard.static"):
        return None
    if not session_is_live(_runtime().redis, session.get("sid")):
        return redirect(url_for("dashboard.login", next=request.full_path if request.query_string else request.path))
    g.signed_in = True  # the templates show the navigation and the logout button
    return None


@bp.after_app_request
def _security_headers(response: Response) -> Response:
    # App-wide, because a URL under /dashboard that matches no route (a 404) never reaches the blueprint's hooks.
    if request.path == bp.url_prefix or request.path.startswith(f"{bp.url_prefix}/"):
        response.headers.update(SECURITY_HEADERS)
        if request.endpoint != "dashboard.static" or response.status_code >= 400:
            response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(CSRFError)
def _csrf_failed(exc: CSRFError) -> tuple[str, int]:
    return render_template("dashboard/error.html", message="This form expired. Go back, reload the page and try again."), 400


def _runtime() -> Any:
    return current_app.extensions["leadline"]


def safe_next(target: str) -> str | None:
    """``target`` when it is a plain ``/dashboard`` path a login may redirect to, else None."""
    return target if _SAFE_NEXT.fullmatch(target) else None


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The password form; a wrong password is answered 401, too many attempts from one address 429 (with
    ``Retry-After``, seconds); Redis down, 503."""
    rt = _runtime()
    secret = rt.settings.dashboard_password
    if secret is None:
        return render_template("dashboard/error.html",
                               message="The dashboard is closed: set DASHBOARD_PASSWORD to open it."), 503
    if request.method == "GET":
        return render_template("dashboard/login.html")
    address = request.remote_addr or "unknown"
    attempts, retry_after = take_login_attempt(rt.redis, address)
    if attempts > LOGIN_LIMIT:
        if attempts == LOGIN_LIMIT + 1:
            lock_out(rt.redis, address)
        page = render_template("dashboard/login.html", error="Too many attempts. Try again in 15 minutes.")
        return page, 429, {"Retry-After": str(retry_after)}
    given = request.form.get("password", "")
    if not hmac.compare_digest(given.encode(), secret.get_secret_value().encode()):
        return render_template("dashboard/login.html", error="Wrong password."), 401
    give_back_login_attempt(rt.redis, address)
    session.clear()  # nothing from before the login (a fixed session) survives it
    session.permanent = True
    session["sid"] = open_session(rt.redis)
    return redirect(safe_next(request.args.get("next", "")) or url_for("dashboard.queue"))


@bp.post("/logout")
def logout() -> Any:
    """End the session server-side (a copy of the cookie stops working too) and forget the cookie."""
    close_session(_runtime().redis, session.get("sid"))
    session.clear()
    return redirect(url_for("dashboard.login"))


@bp.get("")
@bp.get("/")
def queue() -> str:
    """The work queue: score, then last activity; filters ``status`` and ``owner``; ``page`` from 1 (a page
    that is not a number from 1 to :data:`MAX_PAGE` is read as 1)."""
    rt = _runtime()
    status = request.args.get("status", "open")
    if status not in ("open", "all", *LEAD_STATUSES):
        status = "open"
    owner = request.args.get("owner") or None
    try:
        page = bounded_int(request.args.get("page", "1"), low=1, high=MAX_PAGE)
    except ValueError:
        page = 1
    with rt.sessions() as db:
        rows, total = work_queue(db, status=status, owner=owner, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        now = utcnow()
        items = [{"lead": r.lead, "next_touch_at": r.next_touch_at, "call_now": call_now(rt, r.lead, now)} for r in rows]
        return render_template("dashboard/work_queue.html", items=items, total=total, page=page, pages=max(1, -(-total // PAGE_SIZE)),
                               status=status, owner=owner or "", statuses=LEAD_STATUSES,
                               reps=[r.name for r in rt.playbook.reps], business=rt.playbook.business)


def call_now(rt: Any, lead: Lead, now: Any) -> bool:
    """Hot (score at or over ``scoring.hot_at``), still to be booked, and inside the call window in the lead's time."""
    if lead.status != "qualified" or (lead.score_total or 0) < rt.playbook.scoring.hot_at:
        return False
    zone = lead.timezone or rt.playbook.business.timezone
    return next_call_opening(now, zone, rt.playbook.cadence.call_window) == now


def _lead_or_404(db: Any, lead_id: int) -> Lead:
    lead = db.get(Lead, lead_id)
    if lead is None:
        abort(404)
    return lead


@bp.get("/leads/<row_id:lead_id>")
def lead_page(lead_id: int) -> str:
    """A lead: score breakdown, route state, the whole timeline, and the actions."""
    rt = _runtime()
    with rt.sessions() as db:
        lead = _lead_or_404(db, lead_id)
        draft = lead_actions.pending_draft(db, lead_id=lead_id)
        return render_template("dashboard/lead.html", lead=lead, entries=timeline(db, lead_id), draft=draft,
                               call_now=call_now(rt, lead, utcnow()), lost_reasons=LOST_REASONS,
                               reps=[r.name for r in rt.playbook.reps], closed=lead.status in CLOSED_STATUSES,
                               nonce=secrets.token_urlsafe(12), questions=rt.playbook.questions,
                               business=rt.playbook.business)


def _act(lead_id: int, action: Callable[[Any, Any, Lead], Any], done: str) -> Response:
    """Run an action on the lead in one transaction, queue what it left (when it returns
    :class:`bot.reps.actions.Queued`), and go back to the lead page."""
    rt = _runtime()
    try:
        with rt.sessions.begin() as db:
            result = action(db, rt, _lead_or_404(db, lead_id))
            queued = result if isinstance(result, lead_actions.Queued) else lead_actions.Queued()
    except ActionRefused as exc:
        flash(f"Not done: {exc}.", "error")
        return redirect(url_for("dashboard.lead_page", lead_id=lead_id))
    rt.jobs.after_commit(outbox_ids=queued.outbox_ids, touch_ids=queued.touch_ids)
    flash(done, "ok")
    return redirect(url_for("dashboard.lead_page", lead_id=lead_id))


def _actor() -> Actor:
    rep = request.form.get("rep", "").strip()
    return Actor(rep if rep and _runtime().playbook.rep_named(rep) else "owner")


@bp.post("/leads/<row_id:lead_id>/booked")
def mark_booked(lead_id: int) -> Response:
    key = f"dashboard:{request.form.get('nonce', '')}"
    return _act(lead_id, lambda db, rt, lead: lead_actions.mark_booked(db, rt, lead, by=_actor(), key=key),
                "Marked booked; its follow-ups are stopped.")


@bp.post("/leads/<row_id:lead_id>/won")
def mark_won(lead_id: int) -> Response:
    return _act(lead_id, lambda db, rt, lead: lead_actions.mark_won(db, lead, by=_actor()), "Marked won.")


@bp.post("/leads/<row_id:lead_id>/lost")
def mark_lost(lead_id: int) -> Response:
    reason = request.form.get("reason", "")
    return _act(lead_id, lambda db, rt, lead: lead_actions.mark_lost(db, lead, reason=reason, by=_actor()),
                f"Marked lost ({reason}).")


@bp.post("/leads/<row_id:lead_id>/claim")
def claim(lead_id: int) -> Response:
    rep = _actor().name
    return _act(lead_id, lambda db, rt, lead: lead_actions.claim(db, lead, rep=rep), f"Assigned to {rep}.")


@bp.post("/leads/<row_id:lead_id>/take-over")
def take_over(lead_id: int) -> Response:
    rep = _actor().name
    return _act(lead_id, lambda db, rt, lead: lead_actions.take_over(db, lead, rep=rep),
                "You have the conversation: the bot is silent and the lead's messages are forwarded.")


@bp.post("/leads/<row_id:lead_id>/hand-back")
def hand_back(lead_id: int) -> Response:
    return _act(lead_id, lambda db, rt, lead: lead_actions.hand_back(db, lead, by=_actor()),
                "The bot has the conversation again.")


@bp.post("/leads/<row_id:lead_id>/reply")
def reply(lead_id: int) -> Response:
    """The rep's typed reply: it takes the conversation over (the bot stops) and goes out through Twilio."""
    text, key, actor = request.form.get("body", ""), request.form.get("nonce", ""), _actor()

    def send(db: Any, rt: Any, lead: Lead) -> lead_actions.Queued:
        if not key:
            raise ActionRefused("the form is missing its nonce; reload the page")
        queued = lead_actions.rep_reply(db, rt, lead, text=text, by=actor, key=key)
        if lead.status not in CLOSED_STATUSES:
            lead_actions.take_over(db, lead, rep=actor.name if actor.name != "owner" else (lead.owner or "owner"))
        return queued

    return _act(lead_id, send, "Reply queued for sending.")


@bp.post("/leads/<row_id:lead_id>/drafts/<row_id:message_id>/approve")
def approve_draft(lead_id: int, message_id: int) -> Response:
    """Send a model's draft as it is, or as the rep edited it in the form."""
    edited = request.form.get("body")
    actor = _actor()

    def approve(db: Any, rt: Any, lead: Lead) -> lead_actions.Queued:
        draft = db.get(Message, message_id)
        if draft is None or draft.lead_id != lead.id:
            raise ActionRefused("that draft does not exist")
        text = edited if edited is not None and edited.strip() != (draft.body or "").strip() else None
        return lead_actions.approve_draft(db, rt, draft, by=actor, text=text)

    return _act(lead_id, approve, "Draft approved; it is on its way.")


@bp.post("/leads/<row_id:lead_id>/note")
def note(lead_id: int) -> Response:
    text = request.form.get("text", "")
    return _act(lead_id, lambda db, rt, lead: lead_actions.add_note(db, lead, text=text, by=_actor()), "Note added.")


@bp.get("/export.csv")
def export_csv() -> Response:
    """The owner report as CSV (``since``/``until`` ISO 8601, optional), streamed."""
    rt = _runtime()
    try:
        since = parse_instant(request.args["since"]) if request.args.get("since") else None
        until = parse_instant(request.args["until"]) if request.args.get("until") else None
    except ValueError:
        return Response("since/until must be ISO 8601\n", status=422, mimetype="text/plain")

    def rows() -> Any:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=FIELDS)
        writer.writeheader()
        with rt.sessions() as db:
            for n, row in enumerate(owner_report(db, since=since, until=until), start=1):
                writer.writerow(row)
                if n % 500 == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    return Response(stream_with_context(rows()), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=leadline-owner-report.csv"})
