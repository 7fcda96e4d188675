"""Stateless authentication: an RS256 access token is the whole proof of identity.

Services never call the auth service per request and never look a user up in
their database; the token's claims give the user's id and email.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from functools import cached_property

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from jwt.algorithms import RSAAlgorithm
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.models import TokenUser


def signing_key_id(public_pem: str) -> str:
    """The key's RFC 7638 thumbprint: the ``kid`` of the auth service's JWKS and token headers,
    which verifiers fetching the JWKS (PyJWKClient) match keys by."""
    jwk = RSAAlgorithm.to_jwk(RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(public_pem), as_dict=True)
    canonical = json.dumps({name: jwk[name] for name in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


class ServiceUser(TokenUser):
    """The caller, as its access token describes it."""

    @cached_property
    def id(self) -> str:
        return str(super().id)

    @cached_property
    def email(self) -> str:
        return self.token.get("email", "")

    @cached_property
    def is_staff(self) -> bool:
        return bool(self.token.get("is_staff", False))


class JWTAuthentication(JWTStatelessUserAuthentication):
    """Bearer token in, :class:`ServiceUser` out; anything wrong with the token is a 401."""

    www_authenticate_realm = "api"

    def get_user(self, validated_token):
        """User ids are UUIDs everywhere: a token naming anything else is not one of ours."""
        try:
            uuid.UUID(str(validated_token.get("user_id")))
        except ValueError:
            raise InvalidToken({"detail": "Token contained no recognizable user identification"}) from None
        return super().get_user(validated_token)


class JWTAuthenticationScheme(OpenApiAuthenticationExtension):
    """Tells the OpenAPI schema that the APIs take a Bearer JWT."""

    target_class = "ticketing_shared.auth.JWTAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (RS256, issued by the auth service)"}
