"""Who is looking at the dashboard, and at which business: every request's user and business, resolved afresh,
and the agency admin's business switcher.

A session (:mod:`web.signin`) names a user and the stamp of the password they signed in with. Each request reads
that user again (one primary-key read): a user removed, or whose password changed, is signed out there and then.
A business's user sees their business only. An agency admin (a user of no business) sees the overview of every
business (:mod:`web.dashboard.overview`) and works on the one chosen in the switcher, kept in the session
(``business``) and checked on every request against the active businesses: one gone or retired is forgotten,
and the admin is back at the overview. A one-business deployment has one business, always chosen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import abort, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from runtime import Runtime
from store.overview import Choice, choices
from store.tenancy import DEFAULT_BUSINESS_ID
from web.accounts import Account, signed_in
from web.dashboard.blueprint import bp
from web.signin import close_session, session_holder

CHOSEN = "business"
"""The session key of the business an agency admin chose (its id)."""


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of a request and the business they look at.

    Attributes:
        account: the user.
        business_id: the business whose leads the pages show and act on: the user's own, or the one an agency
            admin chose; None for an agency admin who has chosen none (only the overview and the switcher open).
        businesses: what the switcher offers an agency admin (the active businesses, by name); empty for others.
    """

    account: Account
    business_id: int | None
    businesses: list[Choice] = field(default_factory=list)


def who(rt: Runtime) -> Viewer | None:
    """The request's viewer, from its session cookie; None when it has no live session, or its user is gone or
    changed password (that session is then closed).

    Raises:
        redis.exceptions.RedisError, sqlalchemy.exc.DBAPIError: Redis or the database is unreachable.
    """
    holder = session_holder(rt.redis, session.get("sid"))
    if holder is None:
        return None
    if rt.directory.single:  # its playbook's business name is on the row before the switcher reads it
        rt.directory.get(DEFAULT_BUSINESS_ID)
    with rt.sessions() as db:
        account = signed_in(db, user_id=holder.user_id, stamp=holder.stamp)
        offered = choices(db) if account is not None and account.agency else []
    if account is None:
        close_session(rt.redis, session.get("sid"))
        return None
    if not account.agency:
        return Viewer(account, account.business_id)
    chosen = session.get(CHOSEN)
    if rt.directory.single and len(offered) == 1:
        chosen = offered[0].id
    if not any(b.id == chosen for b in offered):
        session.pop(CHOSEN, None)
        chosen = None
    return Viewer(account, chosen, offered)


@bp.post("/switch")
def switch() -> Response:
    """An agency admin's switcher: work on the form's ``business`` (an id from the switcher), or, given none,
    go back to the overview of every business. 404 for anyone else; an id not on offer is ignored."""
    viewer: Viewer = g.viewer
    if not viewer.account.agency:
        abort(404)
    wanted = request.form.get("business", "")
    choice = next((b for b in viewer.businesses if str(b.id) == wanted), None)
    if choice is None:
        session.pop(CHOSEN, None)
        return redirect(url_for("dashboard.overview"))
    session[CHOSEN] = choice.id
    return redirect(url_for("dashboard.work_queue_page"))
