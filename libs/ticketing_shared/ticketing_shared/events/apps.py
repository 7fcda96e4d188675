from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "ticketing_shared.events"
    label = "events"
    verbose_name = "Events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ticketing_shared.events.registry import discover_handlers

        # Handlers are needed wherever events are applied: the consumer and admin replays.
        discover_handlers()
