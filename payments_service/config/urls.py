from django.urls import include, path

from ticketing_shared.urls import service_urlpatterns

urlpatterns = service_urlpatterns(area="payments", api=[path("api/", include("payments.urls"))])
