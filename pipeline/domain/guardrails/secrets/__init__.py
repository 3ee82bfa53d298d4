"""Secret detectors: the code behind the rules of ``catalogue/secrets.toml``.

Each detector receives its rule (patterns come from the catalogue), the text and the
candidate windows, and yields ``(rule_id, start, end)`` hits. What cannot be a regular
expression (entropy, placeholders, key-name checks, joining split or grouped keys) lives
here; the patterns themselves are catalogue data.

Layout, by what the detectors look for:

* ``keys``: AWS access key ids, secret access keys and session tokens; private key blocks.
* ``passwords_in_fields``: passwords in a named field: assignments, connection-string
  fields, URLs, command-line password and passphrase flags, base64 ``user:password``.
* ``passwords_in_tables``: the cells of a table column headed by a password word, the value
  of a table row labelled by one.
* ``passwords_in_prose``: passwords in sentences, after or near a password word.
* ``generic_secrets``: vendor tokens, webhooks, auth headers, cookies, named secrets.
* ``values``: what several of them share about values (is this a password, a mask, the
  next key of a listing, a word of a sentence).

:data:`DETECTORS` maps a rule's ``detector`` name (``secrets.<name>``) to its function.
"""

from __future__ import annotations

from pipeline.domain.guardrails.secrets.generic_secrets import (
    basic_header,
    bearer,
    prefixed_token,
    query_key,
    secret_assignment,
    secret_named,
    secret_prose,
    session_cookie,
    slack_webhook,
    valued,
    vendor_token,
)
from pipeline.domain.guardrails.secrets.keys import (
    access_key,
    access_key_grouped,
    access_key_split,
    pem,
    secret_key_assignment,
    secret_key_bare,
    secret_key_grouped,
    secret_key_split,
    session_assignment,
)
from pipeline.domain.guardrails.secrets.passwords_in_fields import (
    base64_credential,
    basic_auth_url,
    connection_string,
    credential_lines,
    passphrase_flag,
    password_assignment,
    password_cli,
    password_literal,
    password_spaced_field,
    userinfo_login,
)
from pipeline.domain.guardrails.secrets.passwords_in_prose import (
    password_distinctive,
    password_named,
    password_nearby,
    password_prose,
    password_prose_strict,
)
from pipeline.domain.guardrails.secrets.passwords_in_tables import password_column, password_row

DETECTORS = {
    f"secrets.{name}": function
    for name, function in {
        "access_key": access_key,
        "access_key_split": access_key_split,
        "access_key_grouped": access_key_grouped,
        "secret_key_assignment": secret_key_assignment,
        "secret_key_bare": secret_key_bare,
        "secret_key_split": secret_key_split,
        "secret_key_grouped": secret_key_grouped,
        "session_assignment": session_assignment,
        "pem": pem,
        "password_assignment": password_assignment,
        "password_cli": password_cli,
        "password_prose": password_prose,
        "password_prose_strict": password_prose_strict,
        "connection_string": connection_string,
        "basic_auth_url": basic_auth_url,
        "userinfo_login": userinfo_login,
        "valued": valued,
        "vendor_token": vendor_token,
        "slack_webhook": slack_webhook,
        "bearer": bearer,
        "basic_header": basic_header,
        "secret_assignment": secret_assignment,
        "secret_prose": secret_prose,
        "base64_credential": base64_credential,
        "password_named": password_named,
        "password_distinctive": password_distinctive,
        "password_literal": password_literal,
        "password_spaced_field": password_spaced_field,
        "secret_named": secret_named,
        "password_nearby": password_nearby,
        "prefixed_token": prefixed_token,
        "query_key": query_key,
        "passphrase_flag": passphrase_flag,
        "password_column": password_column,
        "password_row": password_row,
        "credential_lines": credential_lines,
        "session_cookie": session_cookie,
    }.items()
}
