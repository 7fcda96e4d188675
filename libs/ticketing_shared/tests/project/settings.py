"""A minimal service used to test the shared library against real infrastructure."""

from pathlib import Path

from ticketing_shared.conf import service_settings

globals().update(
    service_settings(
        service_name="shared-test",
        api_area="demo",
        base_dir=Path(__file__).resolve().parent,
        apps=["tests.project.demo", "ticketing_shared.idempotency"],
    )
)
ROOT_URLCONF = "tests.project.urls"
