"""Money: one precision everywhere, in the database, the API and the events.

Up to 99,999,999.99 with two decimals; the API and the events write it as a string
(``"10.00"``), never a float.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models

MAX_DIGITS = 10
DECIMAL_PLACES = 2
CENT = Decimal("0.01")


def money_str(amount: Decimal) -> str:
    """An amount as the API and the events write it: a string with two decimals."""
    return f"{Decimal(amount).quantize(CENT):.2f}"


class MoneyField(models.DecimalField):
    """A model's amount of money, with the one precision of the whole suite."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("max_digits", MAX_DIGITS)
        kwargs.setdefault("decimal_places", DECIMAL_PLACES)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        """Migrations see a plain DecimalField: the class can move without a migration."""
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.DecimalField", args, kwargs
