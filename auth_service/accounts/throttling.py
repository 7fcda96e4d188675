"""Sign-in throttling: repeated failures lock an email (and a client address) out for a while.

Counters and locks live in the shared Redis cache, so every web process of the
service sees the same numbers, and they expire on their own.
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.exceptions import APIException


class TooManySignins(APIException):
    """429; DRF's handler turns ``wait`` into the ``Retry-After`` header."""

    status_code = 429
    default_code = "throttled"

    def __init__(self, wait: int) -> None:
        super().__init__(f"Too many failed sign-in attempts. Try again in {wait} seconds.")
        self.wait = wait


def _subjects(email: str, client: str) -> list[tuple[str, int]]:
    limits = settings.SIGNIN_THROTTLE
    email_digest = hashlib.sha256(email.encode()).hexdigest()  # no addresses in Redis
    return [
        ("email:" + email_digest, limits["MAX_FAILURES_PER_EMAIL"]),
        ("client:" + client, limits["MAX_FAILURES_PER_CLIENT"]),
    ]


def check(email: str, client: str) -> None:
    """Raise :class:`TooManySignins` while this email or this client is locked out."""
    locks = cache.get_many([f"signin-lock:{subject}" for subject, _ in _subjects(email, client)])
    if locks:
        raise TooManySignins(max(1, math.ceil(max(locks.values()) - time.time())))


def record_failure(email: str, client: str) -> None:
    lockout = settings.SIGNIN_THROTTLE["LOCKOUT_SECONDS"]
    for subject, limit in _subjects(email, client):
        key = f"signin-failures:{subject}"
        cache.add(key, 0, timeout=lockout)  # starts the counting window
        try:
            failures = cache.incr(key)  # atomic in Redis: concurrent failures all count
        except ValueError:  # the window expired between add and incr
            cache.set(key, failures := 1, timeout=lockout)
        if failures >= limit:
            cache.set(f"signin-lock:{subject}", time.time() + lockout, timeout=lockout)
            cache.delete(key)


def record_success(email: str) -> None:
    """A correct password clears that email's failure count."""
    subject, _ = _subjects(email, "")[0]
    cache.delete(f"signin-failures:{subject}")
