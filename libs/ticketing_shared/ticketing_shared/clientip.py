"""Who is really calling: the client's address behind our own proxies.

A service is reached through something: the web client (every storefront call), the
ingress controller, another service's admin (operator sign-in). ``REMOTE_ADDR`` is that
middleman's address, the same for everyone behind it, so anything keyed on it (sign-in
throttling) would lump every user together. Proxies name whom they serve in
``X-Forwarded-For``, each appending its own peer. Anyone can send that header, though,
so it is believed only as far as proxies we trust wrote it (``TRUSTED_PROXIES``, DRF's
``NUM_PROXIES`` idea with networks instead of a count): starting from the peer, walk the
header from the right past trusted addresses; the first untrusted one is the client.
Everything to its left was written by the client itself. A peer we do not trust gets
its header ignored, so a request straight from the internet cannot choose its address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

HEADER = "X-Forwarded-For"
META_KEY = "HTTP_X_FORWARDED_FOR"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(request: HttpRequest) -> str:
    """The address of the client behind ``request``, as far as trusted proxies vouch for it."""
    return address_from_meta(request.META)


def address_from_meta(meta: Mapping[str, str]) -> str:
    """:func:`client_address` for a bare WSGI environ or ``request.META``."""
    peer = meta.get("REMOTE_ADDR", "")
    current = parse_address(peer)
    if current is None:  # not an IP at all (a Unix socket): nothing to walk from
        return peer
    for hop in reversed(forwarded_hops(meta)):
        if not is_trusted(current):
            break
        previous = parse_address(hop)
        if previous is None:  # a trusted proxy passed on garbage: believe nothing beyond it
            break
        current = previous
    return str(current)


def forwarded_for(meta: Mapping[str, str]) -> str:
    """The ``X-Forwarded-For`` to send on a call made on behalf of this request.

    What we were told plus our peer, as every proxy does (nginx's
    ``$proxy_add_x_forwarded_for``): we judge nothing here, the service we call decides
    how much of the chain to believe with its own ``TRUSTED_PROXIES``.
    """
    peer = meta.get("REMOTE_ADDR", "")
    return ", ".join([*forwarded_hops(meta), *([peer] if peer else [])])


def forwarded_hops(meta: Mapping[str, str]) -> list[str]:
    """The entries of ``X-Forwarded-For``, left (furthest) to right (nearest)."""
    return [hop.strip() for hop in meta.get(META_KEY, "").split(",") if hop.strip()]


def is_trusted(address: Address) -> bool:
    """Whether ``address`` is one of our proxies, whose ``X-Forwarded-For`` we believe."""
    return any(address in network for network in _networks(tuple(settings.TRUSTED_PROXIES)))


def parse_address(text: str) -> Address | None:
    """An address as proxies write it (``203.0.113.7``, ``203.0.113.7:443``,
    ``[2001:db8::1]:443``); IPv4 in IPv6 clothing (``::ffff:203.0.113.7``) is IPv4,
    so one client has one spelling. ``None`` for anything else."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """Parsed once per value of the setting (tests override it)."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)
