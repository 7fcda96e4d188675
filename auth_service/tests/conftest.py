import pytest
from django.core.cache import cache

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Sign-in throttling counts live in Redis: every test starts from zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def signup(api_client, db):
    """``signup(email)`` signs a user up through the API and returns the response body."""

    def sign_up(email: str = "ann@example.com", password: str = PASSWORD) -> dict:
        response = api_client.post("/api/users/signup", {"email": email, "password": password}, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return sign_up


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}
