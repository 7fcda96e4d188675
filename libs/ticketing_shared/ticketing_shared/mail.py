"""Outgoing email, the one way every service sends it (docs/configuration.md, "Email").

Messages go through Django's email framework, each with a plain-text and an HTML part.
:func:`mail_settings` picks the backend: SMTP from the environment in production, and in
``make dev`` :class:`EmlFileBackend`, which writes every message as one ``.eml`` file in
``EMAIL_FILE_PATH`` (``.data/dev/mail/``) so a developer, or a browser test, can open it.
:func:`send_mail` builds the message from a :class:`Mail` (a subject, a few lines of text,
the ticket's details and an optional button), so every email looks alike.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import mark_safe

from ticketing_shared.conf import dev_mode, env

logger = logging.getLogger(__name__)

EML_BACKEND = "ticketing_shared.mail.EmlFileBackend"
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def mail_settings(*, base_dir: Path) -> dict[str, Any]:
    """Email settings for a service that sends mail, for ``globals().update``.

    ``EMAIL_BACKEND`` may name any Django backend; without it, development writes ``.eml``
    files to ``EMAIL_FILE_PATH`` and production uses SMTP, which then needs ``EMAIL_HOST``
    (a missing one fails at start-up, not at the first email).
    """
    dev = dev_mode()
    backend = env.str("EMAIL_BACKEND", default=EML_BACKEND if dev else SMTP_BACKEND)
    if backend == SMTP_BACKEND and not env.str("EMAIL_HOST", default=""):
        raise ImproperlyConfigured("EMAIL_HOST must be set to send email over SMTP (or set EMAIL_BACKEND)")
    default_folder = base_dir.parent / ".data" / "dev" / "mail"
    return {
        "EMAIL_BACKEND": backend,
        "EMAIL_FILE_PATH": env.str("EMAIL_FILE_PATH", default=str(default_folder)),
        "EMAIL_HOST": env.str("EMAIL_HOST", default="localhost"),
        "EMAIL_PORT": env.int("EMAIL_PORT", default=587),
        "EMAIL_HOST_USER": env.str("EMAIL_HOST_USER", default=""),
        "EMAIL_HOST_PASSWORD": env.str("EMAIL_HOST_PASSWORD", default=""),
        "EMAIL_USE_TLS": env.bool("EMAIL_USE_TLS", default=True),
        "EMAIL_USE_SSL": env.bool("EMAIL_USE_SSL", default=False),
        "EMAIL_TIMEOUT": env.int("EMAIL_TIMEOUT", default=10),
        "DEFAULT_FROM_EMAIL": env.str("DEFAULT_FROM_EMAIL", default="Ticketing <no-reply@ticketing.local>"),
        # The storefront, for links in emails (``<SITE_URL>/reset/<uid>/<token>``).
        "SITE_URL": env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/"),
    }


class EmlFileBackend(BaseEmailBackend):
    """Each message as its own ``<time>-<id>.eml`` file in ``EMAIL_FILE_PATH``.

    Django's file backend appends several messages to one ``.log`` file per connection;
    one RFC 822 file per message is what mail clients (and tests) open. Written to a
    temporary name and renamed, so a reader never sees half a message.
    """

    def __init__(self, *, file_path: str | None = None, fail_silently: bool = False, **kwargs: Any) -> None:
        super().__init__(fail_silently=fail_silently, **kwargs)
        from django.conf import settings

        self.folder = Path(file_path or settings.EMAIL_FILE_PATH)

    def send_messages(self, email_messages: Sequence[EmailMultiAlternatives]) -> int:
        sent = 0
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            if not self.fail_silently:
                raise
            return 0
        for message in email_messages:
            name = f"{timezone.now():%Y%m%d-%H%M%S-%f}-{uuid.uuid4().hex[:12]}.eml"
            try:
                handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
                with os.fdopen(handle, "wb") as out:
                    out.write(message.message().as_bytes())
                os.replace(temporary, self.folder / name)
            except OSError:
                if not self.fail_silently:
                    raise
                continue
            sent += 1
        return sent


def human_datetime(value: dt.datetime | None) -> str:
    """``Sat 14 Mar 2026, 20:00`` in the site's time zone; ``Date to be announced`` when unknown."""
    if value is None:
        return "Date to be announced"
    local = timezone.localtime(value)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M}"


def human_price(value: Decimal | str) -> str:
    """``$1,234.50``, as the storefront shows money (``CURRENCY_SYMBOL``, default ``$``)."""
    from django.conf import settings

    return f"{getattr(settings, 'CURRENCY_SYMBOL', '$')}{Decimal(str(value)):,.2f}"


@dataclass(frozen=True)
class TicketLine:
    """One ticket as an email names it: the event, when, where, and what it costs (no
    price for a ticket that was given, not bought)."""

    title: str
    price: Decimal | None = None
    starts_at: dt.datetime | None = None
    venue: str = ""
    city: str = ""

    @property
    def where(self) -> str:
        return ", ".join(part for part in (self.venue, self.city) if part) or "Venue to be announced"

    def text(self) -> str:
        price = "" if self.price is None else f"\n  {human_price(self.price)}"
        return f"- {self.title}\n  {human_datetime(self.starts_at)}\n  {self.where}{price}"

    def html(self) -> str:
        return format_html(
            '<tr><td style="padding:8px 0"><strong>{}</strong><br>{}<br>{}</td>'
            '<td style="padding:8px 0;text-align:right">{}</td></tr>',
            self.title, human_datetime(self.starts_at), self.where,
            "" if self.price is None else human_price(self.price),
        )


@dataclass(frozen=True)
class Mail:
    """An email: a subject, paragraphs, tickets, and maybe one link to act on."""

    to: str
    subject: str
    paragraphs: tuple[str, ...]
    tickets: tuple[TicketLine, ...] = ()
    total: Decimal | None = None
    action_label: str = ""
    action_url: str = ""
    closing: str = field(default="The Ticketing team")

    def text(self) -> str:
        parts = [*self.paragraphs]
        if self.tickets:
            parts.append("\n\n".join(ticket.text() for ticket in self.tickets))
        if self.total is not None:
            parts.append(f"Total: {human_price(self.total)}")
        if self.action_url:
            parts.append(f"{self.action_label}: {self.action_url}")
        parts.append(self.closing)
        return "\n\n".join(parts) + "\n"

    def html(self) -> str:
        body = format_html_join("", '<p style="margin:0 0 16px">{}</p>', ((p,) for p in self.paragraphs))
        if self.tickets:
            rows = mark_safe("".join(ticket.html() for ticket in self.tickets))  # each row made by format_html
            body += format_html('<table style="width:100%;border-collapse:collapse">{}</table>', rows)
        if self.total is not None:
            body += format_html('<p style="text-align:right"><strong>Total: {}</strong></p>', human_price(self.total))
        if self.action_url:
            body += format_html(
                '<p><a href="{}" style="display:inline-block;padding:10px 18px;background:#0d6efd;color:#fff;'
                'text-decoration:none;border-radius:6px">{}</a></p><p style="font-size:12px;color:#666">{}</p>',
                self.action_url, self.action_label, self.action_url,
            )
        body += format_html("<p>{}</p>", self.closing)
        return (
            "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;color:#212529;max-width:560px\">"
            f"<h1 style=\"font-size:20px\">{escape(self.subject)}</h1>{body}</body></html>"
        )


def send_mail(mail: Mail) -> int:
    """Send ``mail`` with a plain-text and an HTML part; returns how many were sent (0 or 1)."""
    from django.conf import settings

    message = EmailMultiAlternatives(
        subject=mail.subject, body=mail.text(), from_email=settings.DEFAULT_FROM_EMAIL, to=[mail.to]
    )
    message.attach_alternative(mail.html(), "text/html")
    return message.send()
