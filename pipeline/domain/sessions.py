"""Session ownership: server-issued session ids and their HMAC-signed tokens.

A session is created by the server on the first ``POST /query`` without a ``session_id``;
the reply carries ``session_token`` = ``v1.`` + base64url(HMAC-SHA256(key, "session:" + id)).
Whoever holds the token owns the session: continuing it, giving feedback on it or reading
it needs the header ``X-Session-Token``. The key comes from a :class:`~pipeline.ports.
SessionKeyProvider` (Secrets Manager in AWS, a local key file on a laptop).

Decision order for a request that names a session (:meth:`SessionAuthority.authorize`):
a token that verifies means the server issued the id (only the server has the key), so the
request may go on; otherwise a session with stored turns is 403 (someone else's), and one
without is 404 (never issued). Nothing is read or written before this check passes.

Example:
    >>> authority = SessionAuthority(StaticKey(b"k" * 32), has_turns=lambda s: False)
    >>> sid, token = authority.new_session()
    >>> authority.authorize(sid, token)  # no error: the owner
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.domain.api_contract import ContractError
from pipeline.ports import SessionKeyProvider

TOKEN_VERSION = "v1"
MIN_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class StaticKey:
    """A fixed key (tests, and adapters that already hold the bytes)."""

    key: bytes

    def session_key(self) -> bytes:
        return self.key


class SessionAuthority:
    """Issues session ids and tokens, and decides 403/404 for requests naming a session."""

    def __init__(
        self,
        keys: SessionKeyProvider,
        *,
        has_turns: Callable[[str], bool],
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._keys = keys
        self._has_turns = has_turns
        self._new_id = new_id

    def _key(self) -> bytes:
        key = self._keys.session_key()
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the session key must be at least {MIN_KEY_BYTES} bytes")
        return key

    def token_for(self, session_id: str) -> str:
        mac = hmac.new(self._key(), f"session:{session_id}".encode(), hashlib.sha256).digest()
        return f"{TOKEN_VERSION}." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def verify(self, session_id: str, token: str | None) -> bool:
        if not token:
            return False
        return hmac.compare_digest(self.token_for(session_id).encode(), token.encode("utf-8", "replace"))

    def new_session(self) -> tuple[str, str]:
        session_id = self._new_id()
        return session_id, self.token_for(session_id)

    def authorize(self, session_id: str, token: str | None) -> None:
        """Raise :class:`ContractError` 403 or 404 unless ``token`` owns ``session_id``."""
        if self.verify(session_id, token):
            return
        if self._has_turns(session_id):
            message = "X-Session-Token is missing" if not token else "X-Session-Token does not match the session"
            raise ContractError(403, "unauthorized_session", message, "X-Session-Token")
        raise ContractError(404, "not_found", "no such session", "session_id")
