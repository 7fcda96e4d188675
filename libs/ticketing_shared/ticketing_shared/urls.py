"""URLs every service serves beside its own API."""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from ticketing_shared.health import healthz, readyz
from ticketing_shared.metrics import metrics_view


def service_urlpatterns(*, area: str | None, api: list[URLPattern | URLResolver]) -> list:
    patterns: list = [
        path("healthz", healthz, name="healthz"),
        path("readyz", readyz, name="readyz"),
        path("metrics", metrics_view, name="metrics"),
        path("admin/", admin.site.urls),
    ]
    if apps.is_installed("ticketing_shared.bench"):  # make bench only (ticketing_shared.conf.bench_apps)
        patterns.append(path("_bench/", include("ticketing_shared.bench.urls")))
    if area:
        patterns += [
            re_path(rf"^api/{area}/schema/?$", SpectacularAPIView.as_view(), name="schema"),
            re_path(rf"^api/{area}/docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
        ]
    return patterns + list(api)
