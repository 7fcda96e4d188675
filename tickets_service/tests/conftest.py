import uuid

import pytest

from tests.factories import TicketFactory

SELLER_ID = str(uuid.UUID("11111111-1111-4111-8111-111111111111"))


@pytest.fixture
def seller(authed_client):
    """The client of the user who lists tickets."""
    return authed_client(user_id=SELLER_ID, email="seller@example.com")


@pytest.fixture
def ticket(db):
    """An available ticket of the seller."""
    return TicketFactory(user_id=SELLER_ID, title="Taylor Swift concert", price="120.50")


def errors(response) -> list[dict]:
    body = response.json()
    assert set(body) == {"errors"}, body
    return body["errors"]
