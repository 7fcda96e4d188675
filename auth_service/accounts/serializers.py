from __future__ import annotations

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts.models import User, normalize_email


class CredentialsSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False, write_only=True)

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
    refresh = serializers.CharField()


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
