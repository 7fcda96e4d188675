from __future__ import annotations

import logging

from celery import shared_task

from payments import services
from payments.stripe_gateway import InvalidRequest, ProviderUnavailable

logger = logging.getLogger(__name__)


@shared_task(name="payments.refund", ignore_result=True)
def refund_payment(payment_id: str) -> None:
    """Refund a payment whose order was cancelled; when Stripe fails, the sweep tries again."""
    try:
        services.payment_refund(payment_id=payment_id)
    except (ProviderUnavailable, InvalidRequest) as error:
        logger.warning("Refund of payment %s postponed: %s", payment_id, error)


@shared_task(name="payments.reconcile", ignore_result=True)
def reconcile() -> dict[str, int]:
    return services.payments_reconcile()
