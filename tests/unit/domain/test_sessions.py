"""Session tokens: only the key holder can mint them; 403 for someone else's session, 404 for
one never issued."""

from __future__ import annotations

import pytest

from pipeline.adapters.local.session_key import KeyFileSessionKey
from pipeline.domain.api_contract import ContractError
from pipeline.domain.sessions import SessionAuthority, StaticKey


def authority(key: bytes = b"k" * 32, stored: set[str] | None = None) -> SessionAuthority:
    stored = stored if stored is not None else set()
    return SessionAuthority(StaticKey(key), has_turns=stored.__contains__)


def test_tokens_verify_only_for_their_session_and_key() -> None:
    mine = authority()
    session_id, token = mine.new_session()
    assert mine.verify(session_id, token)
    other_id, other_token = mine.new_session()
    assert other_id != session_id and not mine.verify(session_id, other_token)
    assert not authority(b"z" * 32).verify(session_id, token)  # another deployment's key
    tampered = token[:-1] + ("B" if token.endswith("A") else "A")  # always a different last character
    assert not mine.verify(session_id, None) and not mine.verify(session_id, tampered)


@pytest.mark.parametrize("token", [None, "", "v1.forged", "v1." + "A" * 43])
def test_wrong_or_missing_token_on_a_stored_session_is_403(token: str | None) -> None:
    stored: set[str] = set()
    owner = authority(stored=stored)
    session_id, _ = owner.new_session()
    stored.add(session_id)
    with pytest.raises(ContractError) as caught:
        owner.authorize(session_id, token)
    assert (caught.value.status, caught.value.code) == (403, "unauthorized_session")


def test_a_session_never_issued_is_404_and_an_owned_one_passes() -> None:
    owner = authority()
    with pytest.raises(ContractError) as caught:
        owner.authorize("client-chosen-id", "v1.guess")
    assert (caught.value.status, caught.value.code) == (404, "not_found")
    session_id, token = owner.new_session()
    owner.authorize(session_id, token)  # issued, no turns yet: still the owner's


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        authority(b"short").new_session()


def test_key_file_is_created_once_private_and_reused(tmp_path) -> None:
    path = tmp_path / "keys" / "session.key"
    first = KeyFileSessionKey(path).session_key()
    assert len(first) == 32 and path.stat().st_mode & 0o077 == 0
    assert KeyFileSessionKey(path).session_key() == first
    path.write_text("not hex")
    with pytest.raises(ValueError):
        KeyFileSessionKey(path).session_key()
