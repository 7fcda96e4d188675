from django.apps import AppConfig


class ExpirationsConfig(AppConfig):
    name = "expirations"
    verbose_name = "Expirations"
