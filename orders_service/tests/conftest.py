import uuid

import pytest

from tests.factories import TicketFactory

BUYER_ID = "5f0b6a8e-0000-4000-8000-000000000001"
OTHER_ID = "5f0b6a8e-0000-4000-8000-000000000002"


@pytest.fixture
def buyer(authed_client):
    """The API as the buyer ``BUYER_ID`` sees it."""
    return authed_client(user_id=BUYER_ID, email="buyer@example.com")


@pytest.fixture
def other_buyer(authed_client):
    return authed_client(user_id=OTHER_ID, email="other@example.com")


@pytest.fixture
def ticket(db):
    """A ticket someone else sells, already in the replica."""
    return TicketFactory(title="Concert", user_id=uuid.uuid4())


def reserve(client, ticket_id):
    return client.post("/api/orders", {"ticket_id": str(ticket_id)}, format="json")


