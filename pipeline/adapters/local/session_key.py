"""KeyFileSessionKey: the session-token key in a local file (created on first use, 0600).

On a laptop the local server and ``python -m pipeline ask`` share one key file, so a token
issued by one process verifies in the next. The file holds 64 hex characters (32 random
bytes). Creation is exclusive (``O_EXCL``): concurrent first uses agree on one key.

Example:
    >>> KeyFileSessionKey(Path(".cache/session.key")).session_key()  # doctest: +SKIP
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


class KeyFileSessionKey:
    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._key: bytes | None = None

    def session_key(self) -> bytes:
        if self._key is None:
            self._key = self._read_or_create()
        return self._key

    def _read_or_create(self) -> bytes:
        if not self._path.exists():
            self._path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it first: read theirs
            else:
                with os.fdopen(fd, "w", encoding="ascii") as handle:
                    handle.write(secrets.token_hex(32))
        text = self._path.read_text(encoding="ascii").strip()
        try:
            key = bytes.fromhex(text)
        except ValueError:
            raise ValueError(f"{self._path}: not a hex session key; delete it to make a new one") from None
        if len(key) < 32:
            raise ValueError(f"{self._path}: the session key is shorter than 32 bytes")
        return key
