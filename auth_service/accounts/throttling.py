"""Sign-in throttling: repeated failures lock an email (and a client address) out for a while.

Two buckets count every failure: the email's (so nobody guesses one account's
password, from however many addresses) and the client's (so nobody sprays guesses
over many accounts). The client is the browser's address as our trusted proxies name
it (``ticketing_shared.clientip``), not the peer's: every storefront sign-in arrives
from the web client and every admin sign-in from another service, and one bucket for
all of them would let anyone lock everybody out. The API and the admin's login form
count in the same buckets, so neither is a way around the other.

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
