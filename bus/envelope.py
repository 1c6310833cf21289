"""Filling in the envelope fields that belong to the publisher, in one place.

`seq` is gapless per source and session (so a receiver can spot loss), `msg_id` is derived from
(source, session, seq) so the same run gives the same bytes, and an optional time shift rebases a
scenario or a recording onto the present ("looks live").
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import TypeVar

from bus.schema import Envelope

M = TypeVar("M", bound=Envelope)


class Stamper:
    """Stamps one source's messages: next seq, its session, a derived msg_id, sent_at, shifted time."""

    def __init__(self, source_id: str, session: int = 1, time_shift: timedelta = timedelta(0)) -> None:
        self.source_id = source_id
        self.session = session
        self.time_shift = time_shift
        self.seq = 0

    def stamp(self, message: M, sent_at: datetime | None = None) -> M:
        """A copy of `message` with the publisher's fields set; `sent_at` defaults to its (shifted) time."""
        time = message.time + self.time_shift
        return message.model_copy(update={**self.fields(sent_at or time), "time": time})

    def fields(self, sent_at: datetime) -> dict[str, object]:
        """The publisher's fields for the next message (seq advances), for a caller that encodes
        them over a message's own without copying the model (`codec.encode(..., update=...)`)."""
        self.seq += 1
        digest = hashlib.blake2b(f"{self.source_id}/{self.session}/{self.seq}".encode(), digest_size=16)
        return {"seq": self.seq, "session": self.session, "msg_id": digest.hexdigest(), "sent_at": sent_at}

    def take_back(self) -> None:
        """The last seq went to a message that was never sent (refused): the next message reuses it."""
        self.seq -= 1

    def new_session(self, session: int) -> None:
        """A reconnect starts a new session; seq restarts with it."""
        self.session = session
        self.seq = 0


def rebased(message: M, shift: timedelta, sent_at: datetime, generation: int = 0) -> M:
    """A recorded message made to look live: its time moved by `shift`, sent now. A looping replay
    passes its loop `generation` so that receivers do not drop the repeats as duplicate msg_ids."""
    update: dict[str, object] = {"time": message.time + shift, "sent_at": sent_at}
    if generation:
        update["msg_id"] = hashlib.blake2b(f"{message.msg_id}/{generation}".encode(), digest_size=16).hexdigest()
    return message.model_copy(update=update)
