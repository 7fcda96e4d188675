from django.apps import AppConfig


class BenchConfig(AppConfig):
    name = "ticketing_shared.bench"
    label = "ticketing_bench"
    default_auto_field = "django.db.models.BigAutoField"
