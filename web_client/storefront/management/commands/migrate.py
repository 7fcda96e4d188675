"""``migrate`` without a database: the web client keeps nothing but sessions, in Redis.

Deployment tooling migrates every service the same way (devstack, the chart's
migration job, ``migrate --check`` in init containers); here that is a harmless no-op
instead of Django's error about a missing database. Django prefers an app's command
to its own of the same name.
"""

from typing import Any

from django.core.management.commands.migrate import Command as DjangoMigrate


class Command(DjangoMigrate):
    help = "Does nothing: the web client has no database to migrate."
    requires_system_checks: list = []

    def handle(self, *args: Any, **options: Any) -> None:
        if options.get("verbosity", 1) >= 1:
            self.stdout.write("The web client has no database: nothing to migrate.")
