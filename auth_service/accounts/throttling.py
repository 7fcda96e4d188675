"""Sign-in throttling: repeated failures lock an email (and a client address) out for a while.

Two buckets count every failure: the email's (so nobody guesses one account's
password, from however many addresses) and the client's (so nobody sprays guesses
over many accounts). The client is the browser's address as our trusted proxies name
it (``ticketing_shared.clientip``), not the peer's: every storefront sign-in arrives
from the web client and every admin sign-in from another service, and one bucket for
all of them would let anyone lock everybody out. The API and the admin's login form
count in the same buckets, so neither is a way around the other.

Password reset requests are counted with the same machinery, in buckets of their own
(:func:`allow_reset_email`): one address gets a few reset emails per window, however many
are asked for, and a client asking too often is refused with 429 for the window.

Counters and locks live in the shared Redis cache, so every web process of the
service sees the same numbers, and they expire on their own.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.http import HttpRequest

from accounts.models import User
from ticketing_shared.clientip import client_address
from ticketing_shared.errors import TooManyAttempts

# One IPv6 client holds a whole /64 (its addresses cost nothing), so it counts as one.
IPV6_CLIENT_PREFIX = 64


class TooManySignins(TooManyAttempts):
    """429 with ``Retry-After``: the email or the client is locked out for ``wait`` seconds."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"Too many failed sign-in attempts. Try again in {wait} seconds.", retry_after=wait)
        self.wait = wait


class TooManyResetRequests(TooManyAttempts):
    """429 with ``Retry-After``: the client asked for too many password resets in the window."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"Too many password reset requests. Try again in {wait} seconds.", retry_after=wait)
        self.wait = wait


def throttled_authenticate(request: HttpRequest, email: str, password: str) -> User | None:
    """Django's ``authenticate``, counted: :class:`TooManySignins` while the email or the
    client is locked out; a failure counts against both, a success clears the email's count.

    ``email`` must be normalised (``normalize_email``) so every spelling shares a bucket.
    """
    client = client_bucket(client_address(request))
    check(email, client)
    user = authenticate(request, email=email, password=password)
    if user is None:
        record_failure(email, client)
    else:
        record_success(email)
    return user


def client_bucket(address: str) -> str:
    """What one client's failures are counted under: its address, or its /64 for IPv6."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(parsed)


def _email_subject(email: str) -> str:
    return "email:" + hashlib.sha256(email.encode()).hexdigest()  # no addresses in Redis


def _subjects(email: str, client: str) -> list[tuple[str, int]]:
    limits = settings.SIGNIN_THROTTLE
    return [
        (_email_subject(email), limits["MAX_FAILURES_PER_EMAIL"]),
        ("client:" + client, limits["MAX_FAILURES_PER_CLIENT"]),
    ]


def _lock_wait(keys: list[str]) -> int | None:
    """Seconds until the last of the locks under ``keys`` ends, or None when none is set."""
    locks = cache.get_many(keys)
    return max(1, math.ceil(max(locks.values()) - time.time())) if locks else None


def _count(counter: str, lock: str, limit: int, window: int) -> int:
    """Count one more under ``counter``; at ``limit`` in one window, set ``lock`` for ``window``.

    The first count starts the window (Redis ends it), and the increment is atomic, so
    concurrent requests all count. Returns the count, this one included.
    """
    cache.add(counter, 0, timeout=window)
    try:
        count = cache.incr(counter)
    except ValueError:  # the window expired between add and incr
        cache.set(counter, count := 1, timeout=window)
    if count >= limit:
        cache.set(lock, time.time() + window, timeout=window)
    return count


def check(email: str, client: str) -> None:
    """Raise :class:`TooManySignins` while this email or this client is locked out."""
    wait = _lock_wait([f"signin-lock:{subject}" for subject, _ in _subjects(email, client)])
    if wait is not None:
        raise TooManySignins(wait)


def record_failure(email: str, client: str) -> None:
    lockout = settings.SIGNIN_THROTTLE["LOCKOUT_SECONDS"]
    for subject, limit in _subjects(email, client):
        if _count(f"signin-failures:{subject}", f"signin-lock:{subject}", limit, lockout) >= limit:
            cache.delete(f"signin-failures:{subject}")


def record_success(email: str) -> None:
    """A correct password clears that email's failure count."""
    cache.delete(f"signin-failures:{_email_subject(email)}")


def allow_reset_email(request: HttpRequest, email: str) -> bool:
    """Count a password reset request for ``email`` (normalised) from ``request``'s client.

    Raises :class:`TooManyResetRequests` while the client is locked out; a request that gets
    through counts against the client (its limit locks it out for the window) and the
    address. True when the address may get one more reset email in this window: every
    address counts, with an account or not, so the answer tells nobody which have one.
    """
    limits = settings.PASSWORD_RESET_THROTTLE
    window = limits["WINDOW_SECONDS"]
    client = "client:" + client_bucket(client_address(request))
    wait = _lock_wait([f"reset-lock:{client}"])
    if wait is not None:
        raise TooManyResetRequests(wait)
    _count(f"reset-requests:{client}", f"reset-lock:{client}", limits["MAX_REQUESTS_PER_CLIENT"], window)
    subject = _email_subject(email)
    if _lock_wait([f"reset-lock:{subject}"]) is not None:
        return False
    # Not cleared at the limit: of concurrent requests past it, none sends.
    limit = limits["MAX_EMAILS_PER_EMAIL"]
    return _count(f"reset-emails:{subject}", f"reset-lock:{subject}", limit, window) <= limit
