"""The migrations describe the models exactly: a model change without its migration fails here."""

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_the_migrations_match_the_models():
    call_command("makemigrations", "orders", "--check", "--dry-run", verbosity=0)
