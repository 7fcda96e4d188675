from django.urls import path

from ticketing_shared.bench.views import baseline

urlpatterns = [path("baseline", baseline, name="bench-baseline")]
