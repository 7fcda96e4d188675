"""``/healthz`` (the process runs) and ``/readyz`` (it can serve: Redis, which holds the sessions, answers)."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.http import HttpRequest, JsonResponse

from ticketing_shared.health import healthz

logger = logging.getLogger(__name__)

__all__ = ["healthz", "readyz"]


def readyz(request: HttpRequest) -> JsonResponse:
    try:
        cache.set("readyz", "1", timeout=5)
        ready = cache.get("readyz") == "1"
    except Exception as exc:  # any Redis failure means "not ready"
        logger.warning("readyz: Redis unreachable: %s", exc)
        ready = False
    if not ready:
        return JsonResponse({"errors": [{"message": "Redis unreachable"}]}, status=503)
    return JsonResponse({"status": "ready"})
