"""``POST /api/users/operator-status``: whether the holder of a refresh token is still staff.

The other services' admins keep the refresh token of an operator's sign-in in the admin
session and ask this at least every minute (``ticketing_shared.admin_sso``), so that taking
staff away, deactivating or deleting an account here ends that operator's admin sessions
everywhere within the minute. The token is shown, never spent: one session's concurrent
requests may ask at once, and a token spent twice would look like a stolen one.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import tokens
from accounts.models import User
from accounts.serializers import RefreshSerializer, UserSerializer
from accounts.views import TokenInBody
from ticketing_shared.errors import Unauthenticated


class OperatorStatusSerializer(UserSerializer):
    is_staff = serializers.BooleanField(read_only=True)
    is_superuser = serializers.BooleanField(read_only=True)


@extend_schema(
    request=RefreshSerializer,
    responses={200: OperatorStatusSerializer,
               401: OpenApiResponse(description="The token is dead, or its account deleted or deactivated")},
)
@api_view(["POST"])
@authentication_classes([TokenInBody])
@permission_classes([AllowAny])
def operator_status(request: Request) -> Response:
    serializer = RefreshSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    refresh = tokens.live_refresh(serializer.validated_data["refresh"])  # 401 unless alive; not spent
    user = User.objects.filter(pk=refresh["user_id"], is_active=True).first()
    if user is None:
        raise Unauthenticated("No active account found for this token.")
    return Response(OperatorStatusSerializer(user).data)
