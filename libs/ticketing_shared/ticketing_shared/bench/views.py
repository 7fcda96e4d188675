from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ticketing_shared.bench.models import BaselineRow


@csrf_exempt  # called by the benchmark's HTTP clients, never by a browser
@require_POST
def baseline(request: HttpRequest) -> JsonResponse:
    """One row inserted in one transaction, and nothing else."""
    with transaction.atomic():
        row = BaselineRow.objects.create(created_at=timezone.now())
    return JsonResponse({"id": row.id}, status=201)
