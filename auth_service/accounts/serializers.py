from __future__ import annotations

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts.models import User, normalize_email


class AnyString(serializers.CharField):
    """Any string, NUL characters included: a credential that cannot be valid is the caller's
    problem to hear about as such (401, 400 with its message), not as a malformed field."""

    default_error_messages = {"invalid": "Not a valid string."}

    def __init__(self, **kwargs) -> None:
        super().__init__(trim_whitespace=False, **kwargs)
        self.validators = [v for v in self.validators if type(v).__name__ != "ProhibitNullCharactersValidator"]

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return data


class CredentialsSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    # A string, as the document says: DRF's CharField would take the number 12345678 too.
    password = AnyString(max_length=128, write_only=True)

    def validate_email(self, value: str) -> str:
        return normalize_email(value)


class SignupSerializer(CredentialsSerializer):
    def validate_email(self, value: str) -> str:
        email = super().validate_email(value)
        if User.objects.filter(email=email).exists():
            raise serializers.ValidationError("Email in use.")
        return email

    def validate(self, attrs: dict) -> dict:
        try:  # Django's validators, including "too similar to the email"
            password_validation.validate_password(attrs["password"], user=User(email=attrs["email"]))
        except DjangoValidationError as error:
            raise serializers.ValidationError({"password": list(error.messages)}) from error
        return attrs


class RefreshSerializer(serializers.Serializer):
    refresh = AnyString()


class PasswordResetSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = AnyString(help_text="From the emailed link: `/reset/<uid>/<token>`.")
    token = AnyString(help_text="From the emailed link.")
    password = AnyString(max_length=128, write_only=True, help_text="The new password (Django's validators).")


class UserSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    email = serializers.EmailField(read_only=True)


class SessionSerializer(UserSerializer):
    """What sign-up and sign-in answer: who you are and your tokens."""

    access = serializers.CharField(read_only=True)
    refresh = serializers.CharField(read_only=True)


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField(read_only=True)
    refresh = serializers.CharField(read_only=True)


class CurrentUserSerializer(serializers.Serializer):
    current_user = UserSerializer(allow_null=True)
