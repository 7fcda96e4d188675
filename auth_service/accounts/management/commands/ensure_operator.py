"""Create or update the operator account named by OPERATOR_EMAIL / OPERATOR_PASSWORD.

``make dev`` runs it at every start, so the documented credentials always work.
"""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User, normalize_email
from ticketing_shared.conf import env


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options) -> None:
        email, password = env.str("OPERATOR_EMAIL", default=""), env.str("OPERATOR_PASSWORD", default="")
        if not email or not password:
            raise CommandError("Set OPERATOR_EMAIL and OPERATOR_PASSWORD")
        user, created = User.objects.get_or_create(email=normalize_email(email))
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"operator {user.email} {'created' if created else 'updated'}")
