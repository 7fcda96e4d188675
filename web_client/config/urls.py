from django.urls import include, path

from storefront.views.health import healthz, readyz
from ticketing_shared.metrics import metrics_view

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("", include("storefront.urls")),
]

handler400 = "storefront.errors.bad_request"
handler403 = "storefront.errors.permission_denied"
handler404 = "storefront.errors.page_not_found"
handler500 = "storefront.errors.server_error"
