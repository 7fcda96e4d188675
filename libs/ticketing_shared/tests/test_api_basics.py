"""Authentication, the error shape, health and docs, through a demo service."""

import base64
import hashlib
import hmac
import json
import uuid
from datetime import timedelta

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict, payload: dict, signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{b64(signature)}"


def bearer(client, token):
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/demo/whoami")


def test_a_valid_token_identifies_the_user_without_a_database(api_client, make_token, django_assert_num_queries):
    user_id = str(uuid.uuid4())
    with django_assert_num_queries(0):
        response = bearer(api_client, make_token(user_id=user_id, email="a@example.com"))
    assert response.status_code == 200
    assert response.json() == {"id": user_id, "email": "a@example.com"}


def test_no_token_is_401_in_the_error_shape(api_client):
    response = api_client.get("/api/demo/whoami")
    assert response.status_code == 401
    assert response.json() == {"errors": [{"message": "Authentication credentials were not provided."}]}


def test_an_expired_token_is_refused(api_client, make_token):
    response = bearer(api_client, make_token(lifetime=timedelta(seconds=-60)))
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"]


def test_a_tampered_token_is_refused(api_client, make_token):
    header, payload, signature = make_token(email="a@example.com").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["email"] = "mallory@example.com"
    response = bearer(api_client, f"{header}.{b64(json.dumps(claims).encode())}.{signature}")
    assert response.status_code == 401


def test_alg_none_is_refused(api_client, make_token):
    _, payload, _ = make_token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    response = bearer(api_client, forge({"alg": "none", "typ": "JWT"}, claims))
    assert response.status_code == 401


def test_hs256_signed_with_the_public_key_is_refused(api_client, make_token):
    _, payload, _ = make_token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    key = settings.SIMPLE_JWT["VERIFYING_KEY"].encode()
    signature = hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest()
    response = bearer(api_client, f"{header}.{body}.{b64(signature)}")
    assert response.status_code == 401


def test_a_token_signed_by_another_key_is_refused(api_client):
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    token = jwt.encode({"user_id": "x", "token_type": "access", "exp": 9999999999, "jti": "j"}, pem,
                       algorithm="RS256")
    assert bearer(api_client, token).status_code == 401


def test_validation_errors_name_their_field(api_client):
    response = api_client.post("/api/demo/echo", {"title": "far too long a title", "price": "0"}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {e["field"] for e in errors} == {"title", "price"}
    assert all(e["message"] for e in errors)


def test_malformed_json_is_a_400_not_a_500(api_client):
    response = api_client.post("/api/demo/echo", "{nope", content_type="application/json")
    assert response.status_code == 400
    assert "errors" in response.json()


def test_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/demo/nothing-here")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"errors": [{"message": "Not Found"}]}


def test_wrong_method_is_a_json_405(api_client):
    response = api_client.delete("/api/demo/echo")
    assert response.status_code == 405
    assert response.json()["errors"][0]["message"]


def test_an_unhandled_error_is_a_json_500(client):
    client.raise_request_exception = False
    response = client.get("/api/demo/boom")
    assert response.status_code == 500
    assert response.json() == {"errors": [{"message": "Internal server error."}]}


def test_health_and_readiness(client, kafka_broker):
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200, response.content


def test_readiness_fails_when_kafka_is_unreachable(client, settings, monkeypatch):
    from ticketing_shared import health

    monkeypatch.setattr(health, "_kafka_ok_until", 0.0)
    monkeypatch.setattr(health, "broker_reachable", lambda timeout: False)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"errors": [{"message": "Kafka unreachable"}]}


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/demo/schema/")
    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content
    docs = client.get("/api/demo/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


def test_a_body_over_the_size_limit_is_413_not_500(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = api_client.post("/api/demo/echo", {"title": "x" * 5000, "price": 1}, format="json")

    assert response.status_code == 413
    assert response.json() == {"errors": [{"message": "Request body too large."}]}


def test_health_endpoints_only_answer_reads(client):
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").json()["errors"][0]["message"]


def test_the_api_root_without_a_slash_is_a_json_404(client):
    response = client.get("/api")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


def test_a_signed_token_naming_no_uuid_is_refused(api_client, make_token):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user_id='admin')}")

    response = api_client.get("/api/demo/whoami")

    assert response.status_code == 401


@pytest.mark.parametrize(("kind", "status"), [("NotFound", 404), ("Forbidden", 403), ("InvalidState", 400),
                                               ("Conflict", 409), ("PaymentRefused", 402), ("Unavailable", 503)])
def test_domain_errors_answer_in_the_error_shape_with_their_status(api_client, kind, status):
    response = api_client.get(f"/api/demo/refuse/{kind}", {"field": "expected_total"})
    assert response.status_code == status
    assert response.json() == {"errors": [{"message": f"{kind} said no", "field": "expected_total"}]}
    assert api_client.get(f"/api/demo/refuse/{kind}").json() == {"errors": [{"message": f"{kind} said no"}]}
