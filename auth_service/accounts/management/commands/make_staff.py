"""Make an existing user staff (able to enter every service's admin), or take it away."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User, normalize_email


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("--superuser", action="store_true", help="also grant every permission")
        parser.add_argument("--revoke", action="store_true", help="remove staff and superuser status")

    def handle(self, *args, email: str, superuser: bool, revoke: bool, **options) -> None:
        user = User.objects.filter(email=normalize_email(email)).first()
        if user is None:
            raise CommandError(f"No user with email {email}")
        if revoke:
            user.is_staff = user.is_superuser = False
        else:
            user.is_staff = True
            user.is_superuser = user.is_superuser or superuser
        user.save(update_fields=["is_staff", "is_superuser"])
        role = "superuser" if user.is_superuser else "staff" if user.is_staff else "a regular user"
        self.stdout.write(f"{user.email} is now {role}")
