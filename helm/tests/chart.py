"""What the chart checks share: where things are, running helm, reading its output."""

from __future__ import annotations

import base64
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHART = Path(__file__).resolve().parents[1]
REPO = CHART.parent
TOOLS = REPO / ".data" / "tools"
RELEASE = "shop"
NAMESPACE = "shop"
PREFIX = f"{RELEASE}-ticketing"

BACKENDS = ["auth", "tickets", "orders", "payments", "expiration"]
EVENT_SERVICES = ["tickets", "orders", "payments", "expiration"]
# The chart has no default registry; every render but the refusal checks names one.
REGISTRY = ["--set", "image.registry=registry.example.com"]
# Production payments: Stripe's keys, no test double.
STRIPE_KEYS = [
    "--set", "stripeDouble.enabled=false",
    "--set", "stripe.secretKey=sk_test_x",
    "--set", "stripe.webhookSecret=whsec_x",
    "--set", "stripe.publishableKey=pk_test_y",
]
# A production install also sends real email, so it names an SMTP server.
REAL_STRIPE = [*STRIPE_KEYS, "--set", "email.host=smtp.example.com"]
# A render without a cluster generates a 4096-bit RSA key; renders that are about
# something else name a Secret instead, which keeps the suite fast.
FAST = [*REGISTRY, "--set", "jwt.existingSecret=ticketing-jwt"]


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # HOME and the XDG dirs point into the cache so helm writes nothing elsewhere.
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(TOOLS / "helm-home" / "cache"),
        "HELM_CONFIG_HOME": str(TOOLS / "helm-home" / "config"),
        "HELM_DATA_HOME": str(TOOLS / "helm-home" / "data"),
    }
    return subprocess.run([str(helm), *args], capture_output=True, text=True, env=env, timeout=120, check=False)


@dataclass
class Manifests:
    """The objects of one `helm template`, with the look-ups the tests need."""

    objects: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert found, f"no {kind} {name}; there are {[o['metadata']['name'] for o in self.of_kind(kind)]}"
        return found[0]

    def names(self, kind: str) -> set[str]:
        return {o["metadata"]["name"] for o in self.of_kind(kind)}

    def secret_values(self) -> dict[str, str]:
        """Every value of every rendered Secret, decoded: "<secret>/<key>" -> value."""
        values = {}
        for secret in self.of_kind("Secret"):
            for key, encoded in (secret.get("data") or {}).items():
                values[f"{secret['metadata']['name']}/{key}"] = base64.b64decode(encoded).decode()
            for key, plain in (secret.get("stringData") or {}).items():
                values[f"{secret['metadata']['name']}/{key}"] = plain
        return values


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container.get("env", [])}
