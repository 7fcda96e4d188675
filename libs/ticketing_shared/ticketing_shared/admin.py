"""Admin base classes for rows that only code may write.

Replicas and event records change through events and service functions (which publish
what they must), never through a form: operators look, and act through list actions
that call those same functions.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest


class ReadOnlyAdmin(admin.ModelAdmin):
    """Look only: no add, change or delete; every field shown read-only."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        declared = super().get_readonly_fields(request, obj)  # computed ones, e.g. admin methods
        return list(dict.fromkeys([*declared, *(field.name for field in self.model._meta.fields)]))


class ActionsOnlyAdmin(ReadOnlyAdmin):
    """Read-only rows, but list actions for operators with the change permission (Django
    asks for it on the list, ``obj is None``; a single row's form stays view-only)."""

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return obj is None and admin.ModelAdmin.has_change_permission(self, request)
