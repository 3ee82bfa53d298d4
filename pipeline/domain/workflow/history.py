"""The session's earlier turns, for the two steps that use them (DetectIntent, GenerateResponse).

A module of its own because both steps share it: it is neither one step's logic nor part
of the state records (it may read the conversation store).
"""

from __future__ import annotations

from pipeline.domain.models import Turn
from pipeline.domain.workflow.state import Capture
from pipeline.ports import ConversationStore


def earlier_turns(conversations: ConversationStore, capture: Capture, turns: int) -> list[Turn]:
    """Earlier turns of the session (the current one excluded), oldest first, redacted.

    The ones CaptureUserQuery read (``$.capture.history``) when they cover what is asked
    (``turns`` of them, or every earlier turn of the session); otherwise they are read
    from the store.
    """
    if turns <= 0 or capture.turn_index <= 0:
        return []  # the session's first turn has no earlier ones: nothing to read
    captured = capture.history
    if captured is not None and len(captured) >= min(turns, capture.turn_index):
        return list(captured[-turns:])
    # Only the earlier turns are read (a concurrent request's later turn never takes the
    # place of one of them).
    return conversations.recent_turns(capture.session_id, turns, before=capture.turn_index)
