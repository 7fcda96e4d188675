"""Stateless authentication: an RS256 access token is the whole proof of identity.

Services never call the auth service per request and never look a user up in
their database; the token's claims give the user's id and email.
"""

from __future__ import annotations

import uuid
from functools import cached_property

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.models import TokenUser


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
