"""Use cases of the access part: projects, users, memberships, API keys, login sessions.

``authenticate_*`` turn credentials into a ``Principal``; ``podium.access.authz`` decides, per
route, whether that principal may act. Raises ``podium.errors``; knows nothing of HTTP.
"""

from __future__ import annotations

import hmac
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from podium.access import sql
from podium.access.models import DEFAULT_PROJECT, ApiKey, Membership, Principal, Project, Role, User
from podium.access.ratelimit import LoginThrottle
from podium.access.secrets import (
    DEFAULT_COST,
    hash_api_key,
    hash_password,
    hash_token,
    key_prefix,
    new_api_key,
    new_token,
    verify_password,
)
from podium.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from podium.store.clock import now_ms
from podium.store.engine import Database

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
MIN_PASSWORD_LENGTH = 10
_LAST_USED_RESOLUTION_MS = 60_000
_KEY_CACHE_SIZE = 10_000
# How long this process trusts an authentication result without asking the database again.
# Changes made through this process (revoking a key, disabling a user, creating the first user)
# take effect at once; other replicas see them within this many seconds.
AUTH_CACHE_SECONDS = 5.0


def check_name(kind: str, name: str) -> str:
    """Return ``name`` if it is a valid object name; raise ``InvalidInput`` naming the rule."""
    if not _NAME.match(name):
        raise InvalidInput(
            f"{kind} name {name!r} is not valid: use 1-200 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            field="name",
        )
    return name


class ProjectService:
    """Creates and looks up projects."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # Called with a project's name after it is deleted (caches that hold its keys listen).
        self.on_delete: list[Callable[[str], None]] = []

    def create(self, name: str, description: str = "") -> Project:
        """Create a project; raises ``Conflict`` if the name is taken."""
        check_name("project", name)
        with self._db.write() as conn:
            return sql.insert_project(conn, name, description)

    def get(self, project_id: int) -> Project:
        """The project with this id; raises ``NotFound``."""
        with self._db.read() as conn:
            return sql.get_project(conn, project_id)

    def by_name(self, name: str) -> Project:
        """The project with this name; raises ``NotFound`` naming how to create it."""
        with self._db.read() as conn:
            project = sql.find_project(conn, name)
        if project is None:
            raise NotFound(
                f"project {name!r} does not exist; create it with POST /api/v1/projects "
                f"or use --project {DEFAULT_PROJECT}"
            )
        return project

    def ensure(self, name: str) -> Project:
        """The project with this name, created if missing (safe under concurrency)."""
        check_name("project", name)
        with self._db.read() as conn:
            found = sql.find_project(conn, name)
        if found is not None:
            return found
        try:
            with self._db.write() as conn:
                found = sql.find_project(conn, name)
                return found if found is not None else sql.insert_project(conn, name, "")
        except Conflict:
            # Another writer created it between our read and insert (PostgreSQL allows that).
            return self.by_name(name)

    def list(self) -> list[Project]:
        """Every project, by name."""
        with self._db.read() as conn:
            return sql.list_projects(conn)

    def delete(self, name: str) -> None:
        """Delete a project and everything in it."""
        project = self.by_name(name)
        with self._db.write() as conn:
            sql.delete_project(conn, project.id)
        for listener in self.on_delete:
            listener(project.name)


@dataclass(frozen=True)
class Session:
    """A new login session: the cookie token (shown once) and its CSRF token."""

    token: str
    csrf_token: str
    expires_at: int
    user: User


class AccessService:
    """Users, memberships, API keys and sessions, and turning credentials into principals."""

    def __init__(
        self,
        db: Database,
        projects: ProjectService,
        server_secret: bytes,
        *,
        session_hours: int = 12,
        login_limit: int = 5,
        login_window_seconds: float = 900,
        password_cost: int = DEFAULT_COST,
    ) -> None:
        self._db = db
        self._projects = projects
        self._secret = server_secret
        self._password_cost = password_cost
        self._session_ms = session_hours * 3600 * 1000
        self.throttle = LoginThrottle(login_limit, login_window_seconds)
        self._users_exist: tuple[bool, float] | None = None
        self._users_lock = threading.Lock()
        # HMAC of a presented key -> (its principal, monotonic time the entry expires).
        self._key_cache: dict[str, tuple[Principal, float]] = {}
        projects.on_delete.append(
            lambda name: self._forget_keys(lambda principal: name in principal.roles)
        )

    # -- mode ---------------------------------------------------------------------------------

    def users_exist(self) -> bool:
        """Whether any user exists (cached: it is asked on every request in local mode)."""
        cached = self.cached_users_exist()
        if cached is not None:
            return cached
        with self._db.read() as conn:
            exists = sql.count_users(conn) > 0
        with self._users_lock:
            self._users_exist = (exists, time.monotonic())
        return exists

    def cached_users_exist(self) -> bool | None:
        """``users_exist`` from the cache without touching the database; None when unknown.

        Once users exist they keep existing (users are disabled, never deleted), so ``True`` is
        kept for good; ``False`` is trusted for ``AUTH_CACHE_SECONDS``.
        """
        cached = self._users_exist
        if cached is not None and (cached[0] or time.monotonic() - cached[1] < AUTH_CACHE_SECONDS):
            return cached[0]
        return None

    # -- users --------------------------------------------------------------------------------

    def create_user(self, username: str, password: str, *, is_admin: bool = False) -> User:
        """Create a user; ``Conflict`` if taken, ``InvalidInput`` for a weak password."""
        check_name("user", username)
        _check_password(password)
        with self._db.write() as conn:
            user = sql.insert_user(
                conn, username, hash_password(password, self._password_cost), is_admin
            )
        self._users_exist = (True, time.monotonic())
        return user

    def get_user(self, username: str) -> User:
        """The user; ``NotFound``."""
        with self._db.read() as conn:
            found = sql.find_user(conn, username)
        if found is None:
            raise NotFound(
                f"user {username!r} does not exist; create it with `podium users create`"
            )
        return found[0]

    def list_users(self) -> list[User]:
        """Every user."""
        with self._db.read() as conn:
            return sql.list_users(conn)

    def set_password(self, username: str, password: str) -> None:
        """Change a user's password and end their sessions."""
        _check_password(password)
        user = self.get_user(username)
        with self._db.write() as conn:
            sql.set_password(conn, user.id, hash_password(password, self._password_cost))
            sql.delete_user_sessions(conn, user.id)

    def set_disabled(self, username: str, disabled: bool) -> User:
        """Disable (or re-enable) a user: their sessions and keys stop working."""
        user = self.get_user(username)
        with self._db.write() as conn:
            sql.set_disabled(conn, user.id, disabled)
            if disabled:
                sql.delete_user_sessions(conn, user.id)
            changed = sql.get_user(conn, user.id)
        self._forget_keys(lambda principal: principal.user_id == user.id)
        return changed

    # -- memberships --------------------------------------------------------------------------

    def set_member(self, project: str, username: str, role: Role) -> Membership:
        """Give ``username`` ``role`` in ``project``."""
        target = self._projects.by_name(project)
        user = self.get_user(username)
        with self._db.write() as conn:
            sql.set_membership(conn, target.id, user.id, role)
        return Membership(project, username, role)

    def remove_member(self, project: str, username: str) -> None:
        """Remove ``username`` from ``project``; ``NotFound`` if not a member."""
        target = self._projects.by_name(project)
        user = self.get_user(username)
        with self._db.write() as conn:
            if not sql.delete_membership(conn, target.id, user.id):
                raise NotFound(f"user {username!r} is not a member of project {project!r}")

    def members(self, project: str) -> list[Membership]:
        """A project's members."""
        target = self._projects.by_name(project)
        with self._db.read() as conn:
            return sql.project_members(conn, target.id)

    def roles_of(self, user_id: int) -> dict[str, Role]:
        """Project -> role for one user."""
        with self._db.read() as conn:
            return sql.roles_of_user(conn, user_id)

    # -- API keys -----------------------------------------------------------------------------

    def create_key(
        self,
        *,
        username: str,
        project: str,
        role: Role,
        name: str = "",
        expires_in_days: float | None = None,
        granted_by: Principal | None = None,
    ) -> tuple[ApiKey, str]:
        """Mint a key for ``username`` in ``project``; returns it and the secret (shown once).

        The key's role cannot exceed the owner's role in the project, nor the granter's.
        """
        user = self.get_user(username)
        target = self._projects.by_name(project)
        if not user.is_admin:
            own = self.roles_of(user.id).get(project)
            if own is None or not own.at_least(role):
                raise Forbidden(
                    f"user {username!r} is {own.value if own else 'not a member'} in project "
                    f"{project!r} and cannot hold a {role.value} key; ask an admin to raise "
                    "their role first"
                )
        if granted_by is not None:
            granter_role = granted_by.role_in(project)
            if granter_role is None or not granter_role.at_least(role):
                raise Forbidden(f"you cannot grant a {role.value} key in project {project!r}")
        if expires_in_days is not None and expires_in_days <= 0:
            raise InvalidInput("expires_in_days must be positive", field="expires_in_days")
        secret, prefix = new_api_key()
        expires_at = (
            now_ms() + int(expires_in_days * 86_400_000) if expires_in_days is not None else None
        )
        with self._db.write() as conn:
            key = sql.insert_api_key(
                conn,
                prefix=prefix,
                key_hash=hash_api_key(secret, self._secret),
                name=name or f"{username}-{project}",
                user_id=user.id,
                project_id=target.id,
                role=role,
                expires_at=expires_at,
            )
        return key, secret

    def list_keys(self, username: str | None = None) -> list[ApiKey]:
        """Keys of one user (or everyone's)."""
        user_id = self.get_user(username).id if username is not None else None
        with self._db.read() as conn:
            return sql.list_api_keys(conn, user_id)

    def get_key(self, key_id: int) -> ApiKey:
        """One key's public facts; ``NotFound``."""
        with self._db.read() as conn:
            return sql.get_api_key(conn, key_id)

    def revoke_key(self, key_id: int) -> ApiKey:
        """Revoke a key at once; revoking twice is harmless."""
        with self._db.write() as conn:
            sql.get_api_key(conn, key_id)
            sql.revoke_api_key(conn, key_id)
            revoked = sql.get_api_key(conn, key_id)
        self._forget_keys(lambda principal: principal.key_id == key_id)
        return revoked

    # -- authentication -----------------------------------------------------------------------

    def cached_key_principal(self, presented: str) -> Principal | None:
        """The principal of a key authenticated within ``AUTH_CACHE_SECONDS``; None otherwise.

        No database access, so the request path can call it without a thread-pool hop.
        """
        if key_prefix(presented) is None:
            return None
        entry = self._key_cache.get(hash_api_key(presented, self._secret))
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def authenticate_key(self, presented: str) -> Principal:
        """The principal of a presented API key; ``Unauthenticated`` with the reason otherwise.

        Successful results are cached for ``AUTH_CACHE_SECONDS`` (see ``cached_key_principal``).
        """
        prefix = key_prefix(presented)
        if prefix is None:
            raise Unauthenticated("the API key is malformed; keys look like pdm_<12 hex>_<secret>")
        digest = hash_api_key(presented, self._secret)
        cached = self._key_cache.get(digest)
        if cached is not None and cached[1] >= time.monotonic():
            return cached[0]
        principal = self._check_key(prefix, presented, digest)
        if len(self._key_cache) >= _KEY_CACHE_SIZE:
            self._key_cache.clear()  # crude bound; a full cache only costs a database read
        self._key_cache[digest] = (principal, time.monotonic() + AUTH_CACHE_SECONDS)
        return principal

    def _forget_keys(self, matches: Callable[[Principal], bool]) -> None:
        """Drop cached key principals that a change in this process made stale."""
        for digest, (principal, _) in list(self._key_cache.items()):
            if matches(principal):
                self._key_cache.pop(digest, None)

    def _check_key(self, prefix: str, presented: str, digest: str) -> Principal:
        with self._db.read() as conn:
            found = sql.find_api_key_by_prefix(conn, prefix)
        if found is None:
            raise Unauthenticated("unknown API key; create one with `podium keys create`")
        key, stored_hash, user_id = found
        if not hmac.compare_digest(stored_hash, digest):
            raise Unauthenticated("unknown API key; create one with `podium keys create`")
        now = now_ms()
        if key.revoked_at is not None:
            raise Unauthenticated(f"API key {key.prefix} was revoked; create a new one")
        if key.expires_at is not None and now >= int(key.expires_at.timestamp() * 1000):
            raise Unauthenticated(f"API key {key.prefix} has expired; create a new one")
        with self._db.read() as conn:
            user = sql.get_user(conn, user_id)
        if user.disabled:
            raise Unauthenticated(f"the user owning API key {key.prefix} is disabled")
        last = key.last_used_at
        if last is None or now - int(last.timestamp() * 1000) > _LAST_USED_RESOLUTION_MS:
            # Writing on every request would turn reads into writes; minute resolution is enough.
            with self._db.write() as conn:
                sql.touch_api_key(conn, key.id, now)
        return Principal(
            name=user.username,
            kind="key",
            roles={key.project: key.role},
            user_id=user.id,
            key_id=key.id,
        )

    def login(self, username: str, password: str, remote_addr: str) -> Session:
        """Check a password and open a session; throttled per user and per address."""
        keys = (f"user:{username}", f"addr:{remote_addr}")
        wait = self.throttle.retry_after(*keys)
        if wait > 0:
            raise Unauthenticated(
                f"too many failed logins; try again in {int(wait) + 1} seconds",
                retry_after=int(wait) + 1,
            )
        with self._db.read() as conn:
            found = sql.find_user(conn, username)
        # Hash even for unknown users so timing does not reveal which usernames exist.
        stored = found[1] if found is not None else _DUMMY_HASH
        if not verify_password(password, stored) or found is None or found[0].disabled:
            self.throttle.failed(*keys)
            raise Unauthenticated("wrong username or password")
        self.throttle.succeeded(keys[0])
        token, csrf = new_token(), new_token()
        expires_at = now_ms() + self._session_ms
        with self._db.write() as conn:
            sql.insert_session(conn, hash_token(token), found[0].id, csrf, expires_at)
        return Session(token, csrf, expires_at, found[0])

    def logout(self, token: str) -> None:
        """End a session (unknown tokens are ignored)."""
        with self._db.write() as conn:
            sql.delete_session(conn, hash_token(token))

    def authenticate_session(self, token: str) -> tuple[Principal, str]:
        """The principal and CSRF token of a session cookie; ``Unauthenticated`` otherwise."""
        with self._db.read() as conn:
            found = sql.find_session(conn, hash_token(token))
            if found is None:
                raise Unauthenticated("your session has ended; log in again")
            user_id, csrf, expires_at = found
            user = sql.get_user(conn, user_id)
            roles = sql.roles_of_user(conn, user_id)
        if expires_at <= now_ms() or user.disabled:
            raise Unauthenticated("your session has expired; log in again")
        principal = Principal(
            name=user.username,
            kind="user",
            roles=roles,
            superuser=user.is_admin,
            user_id=user.id,
            session_id=hash_token(token),
        )
        return principal, csrf

    def user_principal(self, username: str) -> Principal:
        """The principal for a user acting directly (CLI administration in embedded mode)."""
        user = self.get_user(username)
        return Principal(
            name=user.username,
            kind="user",
            roles=self.roles_of(user.id),
            superuser=user.is_admin,
            user_id=user.id,
        )


_DUMMY_HASH = hash_password("podium-dummy-password-for-timing")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password is too short: use at least {MIN_PASSWORD_LENGTH} characters",
            field="password",
        )
    if len(password) > 1024:
        raise InvalidInput("password is too long: at most 1024 characters", field="password")
