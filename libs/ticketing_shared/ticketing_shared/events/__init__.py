"""Events between services: the typed contract, the transactional outbox, the relay, the consumer runner."""

from ticketing_shared.events.registry import Event, RetryLater, handles

__all__ = ["Event", "RetryLater", "handles", "publish"]


def publish(data, *, headers=None):
    """Write a typed event to the outbox inside the caller's transaction (see ``outbox.publish``)."""
    from ticketing_shared.events.outbox import publish as _publish  # models load after the app registry

    return _publish(data, headers=headers)
