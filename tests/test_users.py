"""Dashboard users: ``leadline users add`` / ``remove`` (click's CliRunner, and the installed command once), the
argon2id hashes they store, and checking a password against them (web.passwords, web.accounts)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from sqlalchemy import select

from app import cli
from store.businesses import Declaration, sync
from store.db import make_engine, make_sessionmaker
from store.tenancy import DEFAULT_BUSINESS_ID, User
from tests.conftest import ROOT, fresh_database
from web import passwords
from web.accounts import OWNER, authenticate, ensure_owner

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    """A database of its own with the default business and one more, ``alpine``; yields its URL and sessions."""
    url = fresh_database(tmp_path_factory.mktemp("users"), suffix="_users")
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as s:
        sync(s, Declaration(slug="alpine", document={"business": {"name": "Alpine"}}, name="Alpine", timezone="UTC"))
    yield url, sessions
    engine.dispose()


def leadline(url: str, *args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, env={"DATABASE_URL": url})


def stored(sessions, username: str) -> User | None:
    with sessions() as s:
        return s.scalar(select(User).where(User.username == username))


def test_users_add_asks_for_the_password_twice_and_keeps_only_an_argon2id_hash(database) -> None:
    url, sessions = database
    done = leadline(url, "users", "add", "Ann@Example.com", "--business", "alpine",
                    input=f"{PASSWORD}\n{PASSWORD}\n")
    assert done.exit_code == 0, done.output
    assert "user ann@example.com added" in done.output and PASSWORD not in done.output
    user = stored(sessions, "ann@example.com")
    assert user.password_hash.startswith("$argon2id$v=19$") and PASSWORD not in user.password_hash
    assert PasswordHasher().verify(user.password_hash, PASSWORD)
    assert user.business_id not in (None, DEFAULT_BUSINESS_ID)  # alpine's

    mismatch = leadline(url, "users", "add", "bo", "--agency", input=f"{PASSWORD}\nsomething else\n")
    assert mismatch.exit_code != 0 and stored(sessions, "bo") is None


def test_users_add_refuses_what_it_cannot_store(database) -> None:
    url, sessions = database
    cases = {("users", "add", "cy"): "exactly one of --business SLUG and --agency",
             ("users", "add", "cy", "--agency", "--business", "alpine"): "exactly one of",
             ("users", "add", "cy", "--business", "nowhere"): "no business 'nowhere'",
             ("users", "add", "cy", "--agency", "--password-stdin", "--update"): "no user 'cy' to update",
             ("users", "add", "c y", "--agency", "--password-stdin"): "a username is",
             ("users", "remove", "nobody"): "no user 'nobody'"}
    for args, message in cases.items():
        done = leadline(url, *args, input=f"{PASSWORD}\n")
        assert done.exit_code == 2 and message in done.output, (args, done.output)
    short = leadline(url, "users", "add", "cy", "--agency", "--password-stdin", input="short\n")
    assert short.exit_code == 2 and "at least 8 characters" in short.output
    assert stored(sessions, "cy") is None


def test_an_existing_user_is_changed_only_with_update_and_removed_for_good(database) -> None:
    url, sessions = database
    assert leadline(url, "users", "add", "dee", "--agency", "--password-stdin", input=f"{PASSWORD}\n").exit_code == 0
    first = stored(sessions, "dee")
    assert first.business_id is None  # an agency admin
    again = leadline(url, "users", "add", "DEE", "--business", "default", "--password-stdin", input="another one\n")
    assert again.exit_code == 2 and "exists" in again.output
    assert stored(sessions, "dee").password_hash == first.password_hash
    update = leadline(url, "users", "add", "dee", "--business", "default", "--password-stdin", "--update",
                      input="another one\n")
    assert update.exit_code == 0 and "user dee updated" in update.output
    changed = stored(sessions, "dee")
    assert changed.business_id == DEFAULT_BUSINESS_ID and changed.password_hash != first.password_hash
    assert authenticate(sessions, username="Dee", password="another one") is not None
    assert authenticate(sessions, username="dee", password=PASSWORD) is None
    removed = leadline(url, "users", "remove", "Dee")
    assert removed.exit_code == 0 and "user dee removed" in removed.output and stored(sessions, "dee") is None


def test_the_installed_command_reads_the_password_from_stdin(database) -> None:
    url, sessions = database
    run = subprocess.run([sys.executable, "-c", "from app import cli; cli()", "users", "add", "eve", "--agency",
                          "--password-stdin"], input=f"{PASSWORD}\n", capture_output=True, text=True, timeout=60,
                         env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert authenticate(sessions, username="eve", password=PASSWORD).agency


def test_an_old_hash_is_replaced_at_login_by_one_with_the_current_parameters(database) -> None:
    url, sessions = database
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with sessions.begin() as s:
        s.add(User(username="fay", business_id=None, password_hash=weak))
    account = authenticate(sessions, username="fay", password=PASSWORD)
    now = stored(sessions, "fay").password_hash
    assert now != weak and not passwords.HASHER.check_needs_rehash(now) and "m=65536,t=3,p=4" in now
    assert account.stamp == passwords.stamp(now)
    assert authenticate(sessions, username="fay", password="wrong password") is None
    assert stored(sessions, "fay").password_hash == now


def test_unknown_users_and_wrong_passwords_are_checked_alike() -> None:
    assert passwords.check(None, PASSWORD).ok is False  # verified against the dummy hash
    real = passwords.hash_password(PASSWORD)
    assert passwords.check(real, PASSWORD).ok and not passwords.check(real, PASSWORD + "x").ok
    assert not passwords.check("not a hash", PASSWORD).ok and not passwords.check(real, "x" * 5000).ok


def test_dashboard_password_makes_the_owner_and_follows_its_changes(database) -> None:
    _, sessions = database
    ensure_owner(sessions, password="first-password")
    owner = stored(sessions, OWNER)
    assert owner.business_id == DEFAULT_BUSINESS_ID and owner.password_hash.startswith("$argon2id$")
    ensure_owner(sessions, password="first-password")
    assert stored(sessions, OWNER).password_hash == owner.password_hash  # unchanged: not hashed again
    ensure_owner(sessions, password="pw")  # DASHBOARD_PASSWORD is taken as it is, short or not
    assert authenticate(sessions, username="owner", password="pw") is not None
    assert authenticate(sessions, username="owner", password="first-password") is None
