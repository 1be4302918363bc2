"""Logging in to the dashboard and out: the username and password form, its throttle, where a login goes next,
and the one-business deployment's ``owner``.

Login is per user (:mod:`web.accounts`: argon2id hashes, ``leadline users add``). A login opens a server-side
session (:mod:`web.signin`) holding the user's id, whose random id goes into Flask's signed cookie; logout closes
it, so every copy of the cookie stops working. The dashboard is served only with ``SECRET_KEY`` set (it signs the
cookie and the CSRF tokens, the same in every web process); without it the form answers 503.

Owner. In a one-business deployment, ``DASHBOARD_PASSWORD`` is the password of user ``owner`` of the default
business: the first dashboard request of each web process adds that user, or gives them this password when
theirs differs (:func:`web.accounts.ensure_owner`), so ``make run`` prints ``owner`` and a password to sign in
with. With ``BUSINESSES_DIR`` set it is not used: add users with ``leadline users add``.

Throttle. Each login attempt from a client address first takes a slot in Redis
(``leadline:login-failures:<address>``, one atomic transaction: created with a 15-minute expiry, then
incremented); an attempt whose slot is past the 10th in that window is refused with 429 before the password
is checked, so at most 10 wrong passwords per address are ever checked in 15 minutes, however many arrive
at once and however many web processes serve them. A right password gives its slot back, so only wrong
ones add up. The first refusal in a window is a lockout: logged (WARNING, the address only) and counted in
Redis (:mod:`web.signin`). The client address is ``request.remote_addr``: the socket's peer, or what
``ProxyFix`` read from ``X-Forwarded-For`` when ``TRUSTED_PROXIES`` says so (:func:`web.dashboard.init_app`).
A wrong username and a wrong password get the same answer, after the same argon2 work.

Next. Login's ``next`` must be a plain ``/dashboard`` path (printable ASCII, no control characters), else
the login goes to the work queue.
"""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, redirect, render_template, request, session, url_for

from runtime import Runtime
from web.accounts import authenticate, ensure_owner
from web.dashboard.blueprint import app_runtime, bp
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
_OWNER_READY = "leadline_dashboard_owner"
"""``app.extensions`` flag: this process has made sure of the ``owner`` user."""


def safe_next(target: str) -> str | None:
    """``target`` when it is a plain ``/dashboard`` path a login may redirect to, else None."""
    return target if _SAFE_NEXT.fullmatch(target) else None


def bootstrap_owner(rt: Runtime) -> None:
    """Once per process, in a one-business deployment with ``DASHBOARD_PASSWORD``: user ``owner`` of the default
    business signs in with it (:func:`web.accounts.ensure_owner`).

    Raises:
        sqlalchemy.exc.DBAPIError: the database is unreachable (tried again at the next request).
    """
    password = rt.settings.dashboard_password
    if password is None or not rt.directory.single or current_app.extensions.get(_OWNER_READY):
        return
    ensure_owner(rt.sessions, password=password.get_secret_value())
    current_app.extensions[_OWNER_READY] = True


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The username and password form; a wrong username or password is answered 401, too many attempts from one
    address 429 (with ``Retry-After``, seconds); Redis down, or no ``SECRET_KEY``, 503."""
    rt = app_runtime()
    if rt.settings.secret_key is None:
        return render_template("dashboard/error.html", message="The dashboard is closed: set SECRET_KEY (32+ random "
                               "characters, the same in every web process) to open it."), 503
    if request.method == "GET":
        return render_template("dashboard/login.html")
    address = request.remote_addr or "unknown"
    attempts, retry_after = take_login_attempt(rt.redis, address)
    if attempts > LOGIN_LIMIT:
        if attempts == LOGIN_LIMIT + 1:
            lock_out(rt.redis, address)
        page = render_template("dashboard/login.html", error="Too many attempts. Try again in 15 minutes.")
        return page, 429, {"Retry-After": str(retry_after)}
    username = request.form.get("username", "")
    account = authenticate(rt.sessions, username=username, password=request.form.get("password", ""))
    if account is None:
        return render_template("dashboard/login.html", error="Wrong username or password.", username=username), 401
    give_back_login_attempt(rt.redis, address)
    session.clear()  # nothing from before the login (a fixed session, another user's business) survives it
    session.permanent = True
    session["sid"] = open_session(rt.redis, user_id=account.id, stamp=account.stamp)
    return redirect(safe_next(request.args.get("next", "")) or url_for("dashboard.work_queue_page"))


@bp.post("/logout")
def logout() -> Any:
    """End the session server-side (a copy of the cookie stops working too) and forget the cookie."""
    close_session(app_runtime().redis, session.get("sid"))
    session.clear()
    return redirect(url_for("dashboard.login"))
