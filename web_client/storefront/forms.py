"""The storefront's forms. They check what a browser can get wrong; the services have the last word."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import forms
from django.utils import timezone

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


CATEGORIES = [
    ("concert", "Concert"),
    ("sports", "Sports"),
    ("theatre", "Theatre"),
    ("comedy", "Comedy"),
    ("festival", "Festival"),
    ("other", "Other"),
]
CATEGORY_NAMES = dict(CATEGORIES)


class EventDetailsForm(TicketForm):
    """The sell and edit form: title and price, and the event (asked for, none required)."""

    starts_at = forms.DateTimeField(
        required=False,
        label="Date and time",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="When the event starts. Once it has started, the ticket leaves the list.",
    )
    venue = forms.CharField(required=False, max_length=200, help_text="e.g. “Royal Albert Hall”.")
    city = forms.CharField(required=False, max_length=100)
    category = forms.ChoiceField(required=False, choices=[("", "Choose a category"), *CATEGORIES])
    description = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Seat, row, anything a buyer should know.",
    )

    def clean_starts_at(self) -> dt.datetime | None:
        value = self.cleaned_data.get("starts_at")
        if value is not None and value <= timezone.now():
            raise forms.ValidationError("The event must start in the future.")
        return value

    def details(self, *, all_fields: bool = False) -> dict:
        """The event's details for the API: every one on an edit (so one can be cleared), only
        those filled in on a new listing (the service's defaults for the rest)."""
        names = ("starts_at", "venue", "city", "category", "description")
        details = {name: self.cleaned_data[name] for name in names}
        if not details["category"]:
            del details["category"]
        return details if all_fields else {name: value for name, value in details.items() if value}


SORTS = [
    ("", "Best match"),
    ("newest", "Newest"),
    ("soonest", "Soonest"),
    ("price", "Price: low to high"),
    ("-price", "Price: high to low"),
]


class CatalogFilterForm(forms.Form):
    """The storefront's search and filters, kept in the URL (``GET``) so a search can be shared."""

    q = forms.CharField(required=False, max_length=100, label="Search")
    category = forms.MultipleChoiceField(required=False, choices=CATEGORIES, widget=forms.CheckboxSelectMultiple)
    city = forms.CharField(required=False, max_length=100)
    price_min = forms.DecimalField(required=False, min_value=0, max_digits=9, decimal_places=2, label="Min price")
    price_max = forms.DecimalField(required=False, min_value=0, max_digits=9, decimal_places=2, label="Max price")
    starts_after = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    starts_before = forms.DateField(required=False, label="Until", widget=forms.DateInput(attrs={"type": "date"}))
    sort = forms.ChoiceField(required=False, choices=SORTS)

    def api_filters(self) -> dict[str, str]:
        """The valid filters as the tickets API takes them (invalid ones are left out)."""
        data = self.cleaned_data if self.is_valid() else {
            name: value for name, value in getattr(self, "cleaned_data", {}).items() if name not in self.errors
        }
        filters = {
            "q": (data.get("q") or "").replace("\x00", "").strip(),
            "category": ",".join(data.get("category") or []),
            "city": (data.get("city") or "").replace("\x00", "").strip(),
            "price_min": str(data["price_min"]) if data.get("price_min") is not None else "",
            "price_max": str(data["price_max"]) if data.get("price_max") is not None else "",
            "starts_after": data["starts_after"].isoformat() if data.get("starts_after") else "",
            "starts_before": data["starts_before"].isoformat() if data.get("starts_before") else "",
            "sort": data.get("sort") or "",
        }
        return {name: value for name, value in filters.items() if value}


class PasswordResetForm(ApiForm):
    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )


class SetPasswordForm(ApiForm):
    password = forms.CharField(
        label="New password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "autofocus": True}),
        help_text="At least 8 characters; not entirely numeric, not a common password, not like your email.",
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
