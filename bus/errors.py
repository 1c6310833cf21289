"""The bus's errors, under one base, so that a node can catch every bus failure in one clause."""

from __future__ import annotations


class BusError(Exception):
    """Anything the bus could not do."""


class ConnectError(BusError, ConnectionError):
    """The broker could not be reached, or refused us. Also a `ConnectionError`, which callers of
    the standard library already catch."""


class BackpressureError(BusError):
    """A publish found the window of unacknowledged messages (or the hand-over queue) full for too long."""


class SubscribeError(BusError):
    """A subscription was not granted: refused by the broker (its reason code says why) or unanswered."""

    def __init__(self, topic_filter: str, reason: str) -> None:
        super().__init__(f"subscription to {topic_filter!r} not granted: {reason}")
        self.topic_filter = topic_filter
        self.reason = reason


class BrokerConfigError(BusError, ValueError):
    """The connection settings cannot work (a missing, empty or unreadable TLS file, no identity for
    a node); the message is one line naming the setting or file."""


class MessageTooLargeError(BusError, ValueError):
    """A message over the broker's size limit, refused before it was sent: the broker would close
    the connection on it, and paho would resend it at every reconnect, for ever."""


class SessionTakenOverError(BusError):
    """Another process connected with this node's id and the broker handed it our session: two
    processes share one node id. The client does not reconnect (it would knock the other off)."""
