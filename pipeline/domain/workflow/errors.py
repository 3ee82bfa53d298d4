"""Errors shared by the stores and the workflow's steps.

``WorkflowInputError``: the workflow state (or a handler's event) is malformed.
``RecordExistsError`` / ``RecordNotFoundError``: the stores (DynamoDB, in memory, prompt
files) raise them; the steps, the feedback intake, the prompt registry and the API handler
catch them. A module of their own so that the stores and the handlers depend on these
types only, not on the steps.
"""

from __future__ import annotations


class WorkflowInputError(ValueError):
    """The workflow state is missing a key or has a value of the wrong type."""


class RecordExistsError(Exception):
    """A store refused to overwrite an existing record (append-only semantics)."""


class RecordNotFoundError(LookupError):
    """A store was asked to update or read a record that does not exist."""
