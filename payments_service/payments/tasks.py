"""The payments service's Celery tasks (the refund task lives with the refunds it runs)."""

from __future__ import annotations

from celery import shared_task

from payments import services
from payments.services.refunds import refund_payment

__all__ = ["reconcile", "refund_payment"]


@shared_task(name="payments.reconcile", ignore_result=True)
def reconcile() -> dict[str, int]:
    return services.payments_reconcile()
