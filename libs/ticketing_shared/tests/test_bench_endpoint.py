"""``POST /_bench/baseline``: one row in one transaction, and only where the benchmark asks for it."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import override_settings

from ticketing_shared.bench.models import BaselineRow
from ticketing_shared.conf import bench_apps
from ticketing_shared.urls import service_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)


def test_each_post_inserts_one_row_in_one_transaction(client):
    before = BaselineRow.objects.count()

    statements: list[str] = []

    def collect(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(collect):  # the same connection as the test client's request
        first = client.post("/_bench/baseline")
    second = client.post("/_bench/baseline")

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert BaselineRow.objects.filter(pk__in=[first.json()["id"], second.json()["id"]]).count() == 2
    assert BaselineRow.objects.count() == before + 2
    assert len(statements) == 1 and statements[0].startswith('INSERT INTO "bench_baseline_row"')


def test_it_takes_no_gets_and_no_authentication(client):
    before = BaselineRow.objects.count()

    assert client.get("/_bench/baseline").status_code == 405
    assert client.post("/_bench/baseline", HTTP_AUTHORIZATION="Bearer nonsense").status_code == 201
    assert BaselineRow.objects.count() == before + 1


def test_only_bench_endpoints_installs_it(monkeypatch):
    monkeypatch.delenv("BENCH_ENDPOINTS", raising=False)
    assert bench_apps() == []

    monkeypatch.setenv("BENCH_ENDPOINTS", "1")
    assert bench_apps() == ["ticketing_shared.bench"]


def test_production_refuses_to_start_with_it(monkeypatch):
    monkeypatch.setenv("BENCH_ENDPOINTS", "1")
    monkeypatch.setenv("DJANGO_DEBUG", "0")
    monkeypatch.setenv("DJANGO_TESTING", "0")

    with pytest.raises(ImproperlyConfigured, match="BENCH_ENDPOINTS"):
        bench_apps()


def test_a_service_without_the_app_has_no_such_url(settings):
    with_app = [str(pattern.pattern) for pattern in service_urlpatterns(area="demo", api=[])]
    apps = [app for app in settings.INSTALLED_APPS if app != "ticketing_shared.bench"]
    with override_settings(INSTALLED_APPS=apps):
        without = [str(pattern.pattern) for pattern in service_urlpatterns(area="demo", api=[])]

    assert "_bench/" in with_app
    assert "_bench/" not in without
    assert set(with_app) - set(without) == {"_bench/"}
