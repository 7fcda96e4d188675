"""Tickets service settings: the shared ones, plus PostgreSQL's search extensions."""

from pathlib import Path

from ticketing_shared.conf import service_settings

BASE_DIR = Path(__file__).resolve().parent.parent

globals().update(
    service_settings(
        service_name="tickets",
        api_area="tickets",
        base_dir=BASE_DIR,
        # django.contrib.postgres: the trigram index behind title search.
        apps=["django.contrib.postgres", "tickets"],
    )
)
