from django.urls import include, path

from ticketing_shared.urls import service_urlpatterns

urlpatterns = service_urlpatterns(area="orders", api=[path("api/", include("orders.urls"))])
