"""Logging in to the dashboard and out: the password form, its throttle, and where a login goes next.

Login is the owner's ``DASHBOARD_PASSWORD``. A login opens a server-side session (:mod:`web.signin`) whose
random id goes into Flask's signed cookie; logout closes it, so every copy of the cookie stops working.

Throttle. Each login attempt from a client address first takes a slot in Redis
(``leadline:login-failures:<address>``, one atomic transaction: created with a 15-minute expiry, then
incremented); an attempt whose slot is past the 10th in that window is refused with 429 before the password
is checked, so at most 10 wrong passwords per address are ever checked in 15 minutes, however many arrive
at once and however many web processes serve them. A right password gives its slot back, so only wrong
ones add up. The first refusal in a window is a lockout: logged (WARNING, the address only) and counted in
Redis (:mod:`web.signin`). The client address is ``request.remote_addr``: the socket's peer, or what
``ProxyFix`` read from ``X-Forwarded-For`` when ``TRUSTED_PROXIES`` says so (:func:`web.dashboard.init_app`).

Next. Login's ``next`` must be a plain ``/dashboard`` path (printable ASCII, no control characters), else
the login goes to the work queue.
"""

from __future__ import annotations

import hmac
import re
from typing import Any

from flask import redirect, render_template, request, session, url_for

from web.dashboard.blueprint import bp, runtime
from web.signin import (
    LOGIN_LIMIT,
    close_session,
    give_back_login_attempt,
    lock_out,
    open_session,
    take_login_attempt,
)

_SAFE_NEXT = re.compile(r"/dashboard(?:[/?#][\x21-\x5b\x5d-\x7e]{0,2000})?")
"""Where a login may send the browser on: a ``/dashboard`` path in printable ASCII without spaces, backslashes
or control characters (a CR/LF would not even fit in a ``Location`` header)."""


def safe_next(target: str) -> str | None:
    """``target`` when it is a plain ``/dashboard`` path a login may redirect to, else None."""
    return target if _SAFE_NEXT.fullmatch(target) else None


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The password form; a wrong password is answered 401, too many attempts from one address 429 (with
    ``Retry-After``, seconds); Redis down, 503."""
    rt = runtime()
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
    return redirect(safe_next(request.args.get("next", "")) or url_for("dashboard.work_queue_page"))


@bp.post("/logout")
def logout() -> Any:
    """End the session server-side (a copy of the cookie stops working too) and forget the cookie."""
    close_session(runtime().redis, session.get("sid"))
    session.clear()
    return redirect(url_for("dashboard.login"))
