"""Dashboard users and their sessions, kept in the fleet database.

Passwords are hashed with Argon2id (argon2-cffi). A login creates a random session token;
the browser holds it in an HttpOnly, SameSite=Strict cookie and the database only its
SHA-256, with an expiry and the session's CSRF token. Removing a user ends their sessions.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from edgeemo.errors import EdgeemoError
from edgeemo.hub.storage.db import Database

ROLES = ("viewer", "admin")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD = 8
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password of anyone's")  # equal work for unknown names


class UserError(EdgeemoError):
    """A user name, role or password that cannot be used."""


@dataclass(frozen=True)
class Session:
    name: str
    role: str
    csrf: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def add_user(database: Database, name: str, password: str, role: str) -> bool:
    """Create or update a user; returns True when the user is new."""
    if not NAME_PATTERN.fullmatch(name):
        raise UserError(f"user name {name!r}: use 1-64 letters, digits, _ . @ -")
    if role not in ROLES:
        raise UserError(f"role {role!r}: choose one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password for {name}: at least {MIN_PASSWORD} characters")
    digest = _hasher.hash(password)
    with database.transaction(write=True, exclusive=False) as tx:
        new = tx.one("SELECT 1 FROM users WHERE name = ?", (name,)) is None
        tx.run("INSERT INTO users (name, password_hash, role, created_at) VALUES (?,?,?,?) ON CONFLICT (name) "
               "DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role",
               (name, digest, role, int(time.time())))
        if not new:  # a changed password or role ends the old sessions
            tx.run("DELETE FROM sessions WHERE name = ?", (name,))
    return new


def remove_user(database: Database, name: str) -> bool:
    with database.transaction(write=True, exclusive=False) as tx:
        tx.run("DELETE FROM sessions WHERE name = ?", (name,))
        return tx.run("DELETE FROM users WHERE name = ?", (name,)) > 0


def list_users(database: Database) -> list[dict]:
    with database.transaction() as tx:
        return [{"name": n, "role": r} for n, r in tx.rows("SELECT name, role FROM users ORDER BY name")]


def verify(database: Database, name: str, password: str) -> str | None:
    """The user's role when the password is right, else None (same work either way)."""
    with database.transaction() as tx:
        row = tx.one("SELECT password_hash, role FROM users WHERE name = ?", (name,))
    try:
        _hasher.verify(row[0] if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return row[1] if row else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(database: Database, name: str, hours: float) -> str:
    token = secrets.token_urlsafe(32)
    now = int(time.time())
    with database.transaction(write=True, exclusive=False) as tx:
        tx.run("DELETE FROM sessions WHERE expires_at < ?", (now,))
        tx.run("INSERT INTO sessions (token_hash, name, csrf, expires_at) VALUES (?,?,?,?)",
               (_digest(token), name, secrets.token_urlsafe(24), now + int(hours * 3600)))
    return token


def find_session(database: Database, token: str | None) -> Session | None:
    if not token:
        return None
    with database.transaction() as tx:
        row = tx.one("SELECT s.name, u.role, s.csrf FROM sessions s JOIN users u ON u.name = s.name "
                     "WHERE s.token_hash = ? AND s.expires_at > ?", (_digest(token), int(time.time())))
    return Session(*row) if row else None


def end_session(database: Database, token: str | None) -> None:
    if token:
        with database.transaction(write=True, exclusive=False) as tx:
            tx.run("DELETE FROM sessions WHERE token_hash = ?", (_digest(token),))
