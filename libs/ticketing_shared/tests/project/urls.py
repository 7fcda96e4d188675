import time
import uuid

from django.db import transaction
from django.urls import path
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from tests.project.demo.models import Widget
from ticketing_shared import errors
from ticketing_shared.events.outbox import record_event
from ticketing_shared.idempotency.keys import respond_once
from ticketing_shared.urls import service_urlpatterns


class EchoSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=10)
    price = serializers.DecimalField(max_digits=9, decimal_places=2, min_value=1)


@api_view(["GET"])
def whoami(request):
    return Response({"id": request.user.id, "email": request.user.email})


@api_view(["POST"])
@permission_classes([AllowAny])
def echo(request):
    serializer = EchoSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return Response(serializer.validated_data)


@api_view(["POST"])
def rename_widget(request):
    """Writes a change and its event, like any service's write."""
    with transaction.atomic():
        widget = Widget.objects.create(id=uuid.uuid4(), name=request.data.get("name", "w"))
        record_event(aggregate_type="widget", aggregate_id=widget.id, event_type=request.data["topic"],
                     data={"id": str(widget.id), "name": widget.name, "version": widget.version})
    return Response({"id": str(widget.id)}, status=201)


def during_make_widget(widget: Widget) -> None:
    """Called inside the widget's transaction: tests make it refuse, fail or lose its key there."""


@api_view(["POST"])
def make_widget_once(request):
    """Makes a widget once per Idempotency-Key; ``?atomic=0`` keeps the answer after the effect."""

    def make() -> Response:
        with transaction.atomic():
            widget = Widget.objects.create(id=uuid.uuid4(), name=str(request.data.get("name", "w")))
            time.sleep(float(request.data.get("sleep", 0)))
            during_make_widget(widget)
        return Response({"id": str(widget.id), "name": widget.name}, status=201)

    return respond_once(request, make, lease_seconds=30, atomic=request.query_params.get("atomic") != "0")


@api_view(["GET"])
@permission_classes([AllowAny])
def boom(request):
    raise RuntimeError("kaboom")


DOMAIN_ERRORS = {kind.__name__: kind for kind in (errors.NotFound, errors.Forbidden, errors.InvalidState,
                                                  errors.Conflict, errors.PaymentRefused, errors.Unavailable)}


@api_view(["GET"])
@permission_classes([AllowAny])
def refuse(request, kind):
    """A service saying no in the domain's words; the API answers in HTTP's."""
    raise DOMAIN_ERRORS[kind](f"{kind} said no", field=request.GET.get("field"))


urlpatterns = service_urlpatterns(
    area="demo",
    api=[
        path("api/demo/whoami", whoami),
        path("api/demo/echo", echo),
        path("api/demo/boom", boom),
        path("api/demo/refuse/<str:kind>", refuse),
        path("api/demo/widgets", rename_widget),
        path("api/demo/widgets/once", make_widget_once),
    ],
)
