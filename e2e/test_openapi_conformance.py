"""The four OpenAPI documents against the running services: schemathesis with every check.

Each service's document is loaded from the service itself and fuzzed with a bounded
number of examples per operation (``SCHEMATHESIS_MAX_EXAMPLES``, 25), signed in as a fresh
user; any finding fails the test with schemathesis' report. ``e2e/schemathesis.toml``
names the few domain rules a JSON Schema cannot state. Sign-in attempts come from an
address of their own (``X-Forwarded-For``, believed from 127.0.0.1 in the local stack), so
the fuzzer's failed sign-ins never lock out the other tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25")


@pytest.mark.parametrize(
    ("service", "area"), [("auth", "users"), ("tickets", "tickets"), ("orders", "orders"), ("payments", "payments")]
)
def test_openapi_conformance(service, area, request, new_user, tmp_path):
    url = request.getfixturevalue(f"{service}_url")
    user = new_user()
    schemathesis = Path(sys.executable).with_name("schemathesis")
    command = [
        str(schemathesis), "--config-file", str(CONFIG), "--no-color", "run", f"{url}/api/{area}/schema/",
        "--checks", "all", "--max-examples", MAX_EXAMPLES, "--generation-database", "none",
        "--header", f"Authorization: {user.http.headers['Authorization']}",
        "--header", "X-Forwarded-For: 198.51.100.23",
        "--request-timeout", "20",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
