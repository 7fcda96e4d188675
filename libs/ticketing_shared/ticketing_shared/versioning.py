"""Integer versions owned by the service, with optimistic concurrency on write.

Plain ``UPDATE ... WHERE version = n`` statements: no database-specific feature.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import models

from ticketing_shared.events.registry import RetryLater

M = TypeVar("M", bound="VersionedModel")


class ConcurrentUpdateError(Exception):
    """Somebody changed the row since it was read."""


class VersionedModel(models.Model):
    version = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True

    def save_versioned(self, *, update_fields: list[str]) -> None:
        """Write ``update_fields`` and bump the version, only over the version we read."""
        values = {name: getattr(self, name) for name in update_fields}
        updated = type(self)._default_manager.filter(pk=self.pk, version=self.version).update(
            version=self.version + 1, **values
        )
        if not updated:
            raise ConcurrentUpdateError(f"{type(self).__name__} {self.pk} changed since version {self.version}")
        self.version += 1


def replica_apply(model: type[M], *, pk: Any, version: int, values: dict[str, Any]) -> bool:
    """Apply version ``version`` of a replicated row only on top of ``version - 1``.

    Returns False for a stale or repeated version; raises :class:`RetryLater` when the
    event is early (the replica has not reached ``version - 1`` yet).
    """
    updated = model._default_manager.filter(pk=pk, version=version - 1).update(version=version, **values)
    if updated:
        return True
    current = model._default_manager.filter(pk=pk).values_list("version", flat=True).first()
    if current is not None and current >= version:
        return False
    raise RetryLater(f"{model.__name__} {pk} is at version {current}; event has version {version}")
