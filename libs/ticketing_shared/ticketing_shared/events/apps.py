from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "ticketing_shared.events"
    label = "events"
    verbose_name = "Events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from ticketing_shared.events.registry import discover_handlers

        # Handlers are needed wherever events are applied: the consumer and admin replays.
        discover_handlers()
        checks.register(check_consumers_declared, "events")


def check_consumers_declared(app_configs=None, **kwargs):
    """Every topic this service handles names it as a consumer in the event contract, so the
    generated AsyncAPI document says who reads what."""
    from django.conf import settings
    from django.core import checks

    from ticketing_shared.events.registry import registered_types
    from ticketing_shared.events.schemas import schema_for

    service = getattr(settings, "SERVICE_NAME", "")
    return [
        checks.Error(
            f"{service} handles {topic}, but the schema {schema.__name__} does not list it in `consumers`",
            hint="Add it in ticketing_shared/events/schemas.py and run `make docs`.",
            id="events.E001",
        )
        for topic in registered_types()
        if (schema := schema_for(topic)) is not None and service not in schema.consumers
    ]
