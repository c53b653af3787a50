"""Password hashing (scrypt), API key minting and hashing (HMAC-SHA256 with the server secret).

Passwords use scrypt from the standard library: memory-hard, salted, parameters stored with
the hash so they can be raised later. API keys are long random secrets, so a keyed fast hash
(HMAC with the server secret) is enough and keeps per-request verification cheap; the key's
public prefix indexes the lookup.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

DEFAULT_COST = 14  # scrypt N = 2**14: ~0.1 s per hash on one core, the common interactive choice
_SCRYPT_R = 8
_SCRYPT_P = 1
KEY_PREFIX = "pdm"


def hash_password(password: str, cost: int = DEFAULT_COST) -> str:
    """A self-describing scrypt hash ``scrypt$n$r$p$salt$hash`` with N = 2**cost."""
    n = 2**cost
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32, maxmem=2**28
    )
    return "$".join(["scrypt", str(n), str(_SCRYPT_R), str(_SCRYPT_P), _b64(salt), _b64(digest)])


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = hashlib.scrypt(
            password.encode(),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=32,
            maxmem=2**28,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed, _unb64(digest))


def new_api_key() -> tuple[str, str]:
    """A fresh key ``pdm_<prefix>_<secret>`` and its public prefix."""
    prefix = secrets.token_hex(6)
    return f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}", prefix


def key_prefix(key: str) -> str | None:
    """The lookup prefix of a presented key, or None if it is not shaped like one of ours."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 12:
        return None
    return parts[1]


def hash_api_key(key: str, server_secret: bytes) -> str:
    """HMAC-SHA256 of the key under the server secret, hex."""
    return hmac.new(server_secret, key.encode(), hashlib.sha256).hexdigest()


def new_token() -> str:
    """A random URL-safe token (session ids, CSRF tokens)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 of a session token, so a database leak does not leak live sessions."""
    return hashlib.sha256(token.encode()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
