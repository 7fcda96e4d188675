"""Outgoing mail: one ``.eml`` per message in development, text and HTML parts, settings."""

import email
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from ticketing_shared import mail


def _mail(**extra) -> mail.Mail:
    return mail.Mail(
        to="ann@example.com",
        subject="Your tickets",
        paragraphs=("Thanks <3",),
        tickets=(mail.TicketLine(title="Hamlet & co", price=Decimal("1234.5"),
                                 starts_at=datetime(2026, 3, 14, 20, 0, tzinfo=UTC), venue="The Globe",
                                 city="London"),),
        total=Decimal("1234.5"),
        action_label="See your order",
        action_url="https://shop.example/orders/1",
        **extra,
    )


def test_the_eml_backend_writes_one_file_per_message(settings, tmp_path):
    settings.EMAIL_BACKEND = mail.EML_BACKEND
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")

    assert mail.send_mail(_mail()) == 1
    assert mail.send_mail(_mail()) == 1

    files = sorted((tmp_path / "mail").iterdir())
    assert len(files) == 2 and all(f.suffix == ".eml" for f in files)
    message = email.message_from_bytes(files[0].read_bytes())
    assert message["To"] == "ann@example.com" and message["Subject"] == "Your tickets"
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in message.walk()
             if not p.is_multipart()}
    assert set(parts) == {"text/plain", "text/html"}
    for text in ("Sat 14 Mar 2026, 20:00", "The Globe, London", "$1,234.50", "https://shop.example/orders/1"):
        assert text in parts["text/plain"] and text in parts["text/html"], text
    assert "Hamlet & co" in parts["text/plain"]
    assert "Hamlet &amp; co" in parts["text/html"] and "Thanks &lt;3" in parts["text/html"]


def test_unknown_date_and_place_are_said_so():
    line = mail.TicketLine(title="Gig", price=Decimal("5"))

    assert "Date to be announced" in line.text() and "Venue to be announced" in line.text()


def test_a_given_ticket_shows_no_price():
    line = mail.TicketLine(title="Gig", venue="The Globe")

    assert "$" not in line.text() and "$" not in line.html()
    assert "Gig" in line.html() and "The Globe" in line.text()


def test_production_needs_an_smtp_host(monkeypatch, tmp_path):
    monkeypatch.setenv("DJANGO_TESTING", "0")
    monkeypatch.setenv("DJANGO_DEBUG", "0")
    monkeypatch.delenv("EMAIL_HOST", raising=False)
    monkeypatch.delenv("EMAIL_BACKEND", raising=False)
    with pytest.raises(ImproperlyConfigured, match="EMAIL_HOST"):
        mail.mail_settings(base_dir=tmp_path)

    monkeypatch.setenv("EMAIL_HOST", "smtp.example.com")
    monkeypatch.setenv("EMAIL_PORT", "2525")
    settings = mail.mail_settings(base_dir=tmp_path)
    assert settings["EMAIL_BACKEND"] == mail.SMTP_BACKEND
    assert (settings["EMAIL_HOST"], settings["EMAIL_PORT"], settings["EMAIL_USE_TLS"]) == ("smtp.example.com", 2525,
                                                                                         True)


def test_development_writes_eml_files(monkeypatch, tmp_path):
    monkeypatch.setenv("DJANGO_DEBUG", "1")
    monkeypatch.delenv("EMAIL_BACKEND", raising=False)
    monkeypatch.delenv("EMAIL_FILE_PATH", raising=False)

    settings = mail.mail_settings(base_dir=tmp_path / "some_service")

    assert settings["EMAIL_BACKEND"] == mail.EML_BACKEND
    assert settings["EMAIL_FILE_PATH"] == str(tmp_path / ".data" / "dev" / "mail")
