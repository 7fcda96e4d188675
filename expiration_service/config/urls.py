from ticketing_shared.urls import service_urlpatterns

# No public API: the service only answers /healthz, /readyz and /admin/.
urlpatterns = service_urlpatterns(area=None, api=[])
