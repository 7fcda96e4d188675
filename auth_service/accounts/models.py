"""Users, identified by a UUID and signed in by email."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


def normalize_email(email: str) -> str:
    """One spelling per address: ``Ann@Example.COM `` and ``ann@example.com`` are one user."""
    return email.strip().lower()


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        user = self.model(email=normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)

    def get_by_natural_key(self, email: str) -> User:
        return self.get(email=normalize_email(email))


class User(AbstractBaseUser, PermissionsMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(
        default=False, help_text="Staff users can sign in to the admin of every service."
    )
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"

    class Meta:
        ordering = ["-date_joined"]
        constraints = [
            # Stored lowercase, and unique: so unique case-insensitively, enforced by the
            # database even under concurrent sign-ups.
            models.CheckConstraint(condition=models.Q(email=Lower("email")), name="accounts_user_email_lowercase"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)


class RevokedTokenFamily(models.Model):
    """A sign-in whose refresh tokens are all dead.

    Every refresh token carries its family: the id of the sign-in (or sign-up) it was
    rotated from. Rotation kills the token used, so a token used twice means two parties
    hold it, the owner and a thief, and we cannot tell which is which: the whole family
    dies, the token rotated last included. Only a row per revoked family is kept, not one
    per token, and only while a token of the family could still be unexpired.
    """

    family = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, null=True, related_name="revoked_token_families")
    revoked_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-revoked_at"]
        verbose_name = "revoked sign-in"

    def __str__(self) -> str:
        return self.family
