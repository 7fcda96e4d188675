"""Events between services: the transactional outbox, the relay, the consumer runner."""

from ticketing_shared.events.registry import Event, RetryLater, handles

__all__ = ["Event", "RetryLater", "handles", "publish"]


def publish(**kwargs):
    """Write an event to the outbox inside the caller's transaction (see ``outbox.publish``)."""
    from ticketing_shared.events.outbox import publish as _publish

    return _publish(**kwargs)
