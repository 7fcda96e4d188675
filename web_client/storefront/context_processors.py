from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from storefront.session import UserSession


def storefront(request: HttpRequest) -> dict[str, Any]:
    return {
        "current_user": UserSession.of(request).user,
        "currency_symbol": settings.CURRENCY_SYMBOL,
        "stripe_test_mode": settings.STRIPE_TEST_MODE,
    }
