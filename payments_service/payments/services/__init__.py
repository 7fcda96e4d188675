"""Every write of the payments service, one module per concern:

- :mod:`~payments.services.replica`: the order replica, from the orders service's events;
- :mod:`~payments.services.charging`: charging an order at most once (claim, charge, settle);
- :mod:`~payments.services.settling`: recording what Stripe did, from the request or the webhook;
- :mod:`~payments.services.refunds`: refunds, automatic and an operator's;
- :mod:`~payments.services.reconciling`: the sweep that finishes what crashes left.

Views, handlers, tasks and the admin use the names below.
"""

from payments.services.charging import (
    ALREADY_PAID,
    AUTHENTICATION_FAILED,
    AUTHENTICATION_INCOMPLETE,
    IN_PROGRESS,
    NEEDS_AUTHENTICATION,
    NOT_YOUR_ORDER,
    ORDER_CANCELLED,
    ORDER_EXPIRED,
    ORDER_NOT_FOUND,
    PAYMENT_NOT_FOUND,
    REFUND_DUE_AFTER_CANCEL,
    REFUNDED_AFTER_CANCEL,
    TOTAL_CHANGED,
    ActionRequired,
    payment_confirm,
    payment_create,
)
from payments.services.reconciling import payments_reconcile
from payments.services.refunds import payment_refund, payment_refund_request
from payments.services.replica import (
    order_replica_cancel,
    order_replica_complete,
    order_replica_create,
    order_replica_update,
)
from payments.services.settling import CHARGE_MISMATCH, ChargeMismatch, payment_settle, stripe_event_handle

__all__ = [
    "ALREADY_PAID",
    "AUTHENTICATION_FAILED",
    "AUTHENTICATION_INCOMPLETE",
    "CHARGE_MISMATCH",
    "IN_PROGRESS",
    "NEEDS_AUTHENTICATION",
    "NOT_YOUR_ORDER",
    "ORDER_CANCELLED",
    "ORDER_EXPIRED",
    "ORDER_NOT_FOUND",
    "PAYMENT_NOT_FOUND",
    "REFUNDED_AFTER_CANCEL",
    "REFUND_DUE_AFTER_CANCEL",
    "TOTAL_CHANGED",
    "ActionRequired",
    "ChargeMismatch",
    "order_replica_cancel",
    "order_replica_complete",
    "order_replica_create",
    "order_replica_update",
    "payment_confirm",
    "payment_create",
    "payment_refund",
    "payment_refund_request",
    "payment_settle",
    "payments_reconcile",
    "stripe_event_handle",
]
