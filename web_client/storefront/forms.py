"""The storefront's forms. They check what a browser can get wrong; the services have the last word."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from storefront.clients.base import ApiError, ServiceUnavailable

TITLE_MAX_LENGTH = 120
PRICE_MAX = Decimal("1000000")


class ApiForm(forms.Form):
    """A form that can show a service's answer next to the fields it names."""

    def add_api_error(self, error: ApiError | ServiceUnavailable) -> None:
        if isinstance(error, ServiceUnavailable):
            self.add_error(None, str(error))
            return
        for item in error.errors:
            name = (item.field or "").split(".")[0]
            self.add_error(name if name in self.fields else None, item.message)


class SignUpForm(ApiForm):
    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    password = forms.CharField(
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters; not entirely numeric, not a common password, not like your email.",
    )


class SignInForm(ApiForm):
    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )
    password = forms.CharField(strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class TicketForm(ApiForm):
    title = forms.CharField(
        max_length=TITLE_MAX_LENGTH,
        help_text="The event, and what the ticket is for: e.g. “Jazz night, row F, seat 12”.",
    )
    price = forms.DecimalField(
        min_value=Decimal("0.01"),
        max_value=PRICE_MAX,
        max_digits=9,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
        error_messages={
            "min_value": "Price must be greater than 0.",
            "max_value": "Price must be at most 1,000,000.",
            "max_decimal_places": "Price must have at most 2 decimal places.",
        },
    )


class BuyForm(forms.Form):
    """What the Buy button posts: the price the ticket page showed. The orders service
    refuses the order (409) when that is no longer what it would cost."""

    expected_total = forms.DecimalField(
        min_value=Decimal("0"), max_digits=10, decimal_places=2, widget=forms.HiddenInput
    )


class PaymentForm(ApiForm):
    """Stripe.js turns the card into a token in the browser; only the token reaches us."""

    token = forms.CharField(
        max_length=255,
        widget=forms.HiddenInput,
        error_messages={"required": "Please enter your card details."},
    )
    # The total the page showed: a cart changed meanwhile is refused, not charged.
    expected_total = forms.DecimalField(
        required=False, min_value=Decimal("0"), max_digits=10, decimal_places=2, widget=forms.HiddenInput
    )

    def add_api_error(self, error: ApiError | ServiceUnavailable) -> None:
        """A decline (402) is about the card, so it goes next to the card field."""
        if isinstance(error, ApiError) and error.status == 402:
            for item in error.errors:
                self.add_error("token", item.message)
            return
        super().add_api_error(error)
