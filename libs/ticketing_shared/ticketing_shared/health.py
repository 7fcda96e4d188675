"""Liveness and readiness: ``/healthz`` says the process runs, ``/readyz`` that it can work."""

from __future__ import annotations

import logging
import time

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from ticketing_shared.errors import error_body
from ticketing_shared.events.kafka import broker_reachable

logger = logging.getLogger(__name__)

_KAFKA_CHECK_TTL = 5.0
_kafka_ok_until = 0.0


@csrf_exempt
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@csrf_exempt
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    global _kafka_ok_until
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any database failure means "not ready"
        logger.warning("readyz: database unreachable: %s", exc)
        return JsonResponse(error_body("Database unreachable"), status=503)
    now = time.monotonic()
    if now >= _kafka_ok_until:
        if not broker_reachable(timeout=2.0):
            return JsonResponse(error_body("Kafka unreachable"), status=503)
        _kafka_ok_until = now + _KAFKA_CHECK_TTL
    return JsonResponse({"status": "ready"})
