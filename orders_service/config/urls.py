from django.urls import include, path

from ticketing_shared.urls import service_urlpatterns

# SPEC paths have no trailing slash: /api/orders and /api/orders/{id}.
urlpatterns = service_urlpatterns(area="orders", api=[path("api/", include("orders.api.urls"))])
