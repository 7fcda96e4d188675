"""The users API of the auth service (see docs/api.md)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import update_last_login
from django.db import IntegrityError, transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from jwt.algorithms import RSAAlgorithm
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import password_reset as resets
from accounts import throttling, tokens
from accounts.models import User, normalize_email
from accounts.serializers import (
    CredentialsSerializer,
    CurrentUserSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetSerializer,
    RefreshSerializer,
    SessionSerializer,
    SignupSerializer,
    TokenPairSerializer,
)
from ticketing_shared.auth import JWTAuthentication, signing_key_id
from ticketing_shared.errors import InvalidState

INVALID_CREDENTIALS = "Invalid credentials"


class TokenInBody(BaseAuthentication):
    """For calls whose credential is a refresh token in the body, not a header.

    DRF answers 403 instead of 401 when a view has no authenticator to name in
    ``WWW-Authenticate``; this one authenticates nobody but keeps dead tokens at 401.
    """

    def authenticate(self, request: Request) -> None:
        return None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def _session(user: User) -> dict[str, str]:
    return {"id": str(user.id), "email": user.email, **tokens.issue(user)}


@extend_schema(request=SignupSerializer, responses={201: SessionSerializer})
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def signup(request: Request) -> Response:
    serializer = SignupSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    try:
        with transaction.atomic():
            user = User.objects.create_user(**serializer.validated_data)
    except IntegrityError:  # the same email signed up concurrently: the constraint decided
        raise InvalidState("Email in use.", field="email") from None
    return Response(_session(user), status=status.HTTP_201_CREATED)


@extend_schema(
    request=CredentialsSerializer,
    responses={200: SessionSerializer, 400: OpenApiResponse(description=INVALID_CREDENTIALS),
               429: OpenApiResponse(description="Too many failed attempts; see Retry-After")},
)
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def signin(request: Request) -> Response:
    serializer = CredentialsSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    email, password = serializer.validated_data["email"], serializer.validated_data["password"]
    user = throttling.throttled_authenticate(request, email, password)
    if user is None:
        raise InvalidState(INVALID_CREDENTIALS)
    update_last_login(None, user)
    return Response(_session(user))


@extend_schema(
    request=RefreshSerializer,
    responses={
        204: None,
        401: OpenApiResponse(description="A bad access token, or a refresh token that is not a live one"),
        403: OpenApiResponse(description="The refresh token belongs to another user than the access token's"),
    },
)
@api_view(["POST"])
@authentication_classes([JWTAuthentication])
@permission_classes([AllowAny])
def signout(request: Request) -> Response:
    """Kill the given refresh token: 401 when it is not a live one. A bad access token is a 401
    too; with a good one, the refresh token must belong to that user (403)."""
    serializer = RefreshSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    tokens.sign_out(serializer.validated_data["refresh"], user_id=request.user.id if request.user else None)
    return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(responses={200: CurrentUserSerializer})
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def currentuser(request: Request) -> Response:
    """Never a 401: without a valid token the answer is ``{"current_user": null}``."""
    try:
        result = JWTAuthentication().authenticate(request)
    except exceptions.AuthenticationFailed:
        result = None
    user = {"id": result[0].id, "email": result[0].email} if result else None
    return Response({"current_user": user})


@extend_schema(
    request=RefreshSerializer,
    responses={200: TokenPairSerializer,
               401: OpenApiResponse(description="Dead, expired or malformed token, or its account is inactive")},
)
@api_view(["POST"])
@authentication_classes([TokenInBody])
@permission_classes([AllowAny])
def token_refresh(request: Request) -> Response:
    serializer = RefreshSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return Response(tokens.rotate(serializer.validated_data["refresh"]))


@extend_schema(responses={200: OpenApiResponse(description="JSON Web Key Set")})
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def jwks(request: Request) -> Response:
    """The public half of the signing key, for anyone verifying our tokens."""
    key = RSAAlgorithm.to_jwk(RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(settings.SIMPLE_JWT["VERIFYING_KEY"]),
                              as_dict=True)
    kid = signing_key_id(settings.SIMPLE_JWT["VERIFYING_KEY"])
    response = Response({"keys": [{**key, "kid": kid, "use": "sig", "alg": "RS256"}]})
    response["Cache-Control"] = "public, max-age=300"
    return response


@extend_schema(
    request=PasswordResetSerializer,
    responses={
        202: OpenApiResponse(description="Accepted; the account's owner, if there is one, gets a link "
                                         "(a few per address per window: more send nothing)"),
        429: OpenApiResponse(description="Too many reset requests from this client; see Retry-After"),
    },
)
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def password_reset(request: Request) -> Response:
    """The same 202 for every well-formed email, throttled or not: whether it has an account is not said."""
    serializer = PasswordResetSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    email = normalize_email(serializer.validated_data["email"])
    if throttling.allow_reset_email(request, email):
        resets.request_reset(email)
    return Response(status=status.HTTP_202_ACCEPTED)


@extend_schema(
    request=PasswordResetConfirmSerializer,
    responses={
        204: OpenApiResponse(description="Password changed; every refresh token of the user is dead"),
        400: OpenApiResponse(description=f"`{resets.BAD_LINK}` (field `token`), or a weak password"),
    },
)
@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def password_reset_confirm(request: Request) -> Response:
    serializer = PasswordResetConfirmSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    resets.confirm_reset(**serializer.validated_data)
    return Response(status=status.HTTP_204_NO_CONTENT)
