"""A minimal service used to test the shared library against real infrastructure."""

from pathlib import Path

from ticketing_shared.conf import service_settings

globals().update(
    service_settings(
        service_name="shared-test",
        api_area="demo",
        base_dir=Path(__file__).resolve().parent,
        # The benchmark's endpoint too, as BENCH_ENDPOINTS installs it (tests/test_bench_endpoint.py).
        apps=["tests.project.demo", "ticketing_shared.idempotency", "ticketing_shared.bench"],
    )
)
ROOT_URLCONF = "tests.project.urls"
