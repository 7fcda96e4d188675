from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from storefront.session import UserSession


def storefront(request: HttpRequest) -> dict[str, Any]:
    session = UserSession.of(request)
    return {
        "current_user": session.user,
        "currency_symbol": settings.CURRENCY_SYMBOL,
        "stripe_test_mode": settings.STRIPE_TEST_MODE,
        "cart_size": session.cart_size if session.user else 0,
    }
