"""Auth service settings: the shared ones, plus users, passwords and the signing key."""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from ticketing_shared.conf import env, service_settings
from ticketing_shared.mail import mail_settings

BASE_DIR = Path(__file__).resolve().parent.parent

globals().update(
    service_settings(
        service_name="auth",
        api_area="users",
        base_dir=BASE_DIR,
        apps=["rest_framework_simplejwt.token_blacklist", "accounts"],
    )
)

# Password reset links are emailed (ticketing_shared.mail) and work for an hour.
globals().update(mail_settings(base_dir=BASE_DIR))
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3600)

AUTH_USER_MODEL = "accounts.User"
# The staff accounts live here: the admin signs in against this database.
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]

# Only this service signs tokens, so only it needs the private key.
if not SIMPLE_JWT["SIGNING_KEY"]:  # noqa: F821 - set by service_settings
    raise ImproperlyConfigured("The auth service needs JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE")

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    # Hashes made by older settings still verify, and are upgraded on sign-in.
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Failed sign-ins allowed per email (and, more generously, per client address)
# before further attempts get 429 for the lockout period.
SIGNIN_THROTTLE = {
    "MAX_FAILURES_PER_EMAIL": env.int("SIGNIN_MAX_FAILURES_PER_EMAIL", default=5),
    "MAX_FAILURES_PER_CLIENT": env.int("SIGNIN_MAX_FAILURES_PER_CLIENT", default=50),
    "LOCKOUT_SECONDS": env.int("SIGNIN_LOCKOUT_SECONDS", default=300),
}

# Password reset requests: at most MAX_EMAILS_PER_EMAIL reset emails to one address per
# window (more still answer 202, and send nothing), and MAX_REQUESTS_PER_CLIENT requests
# from one client address before it gets 429 for the window.
PASSWORD_RESET_THROTTLE = {
    "MAX_EMAILS_PER_EMAIL": env.int("PASSWORD_RESET_MAX_EMAILS_PER_EMAIL", default=3),
    "MAX_REQUESTS_PER_CLIENT": env.int("PASSWORD_RESET_MAX_REQUESTS_PER_CLIENT", default=20),
    "WINDOW_SECONDS": env.int("PASSWORD_RESET_WINDOW_SECONDS", default=3600),
}
