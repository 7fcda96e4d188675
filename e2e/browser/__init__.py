"""Browser journeys through the storefront (a package, so its conftest does not shadow e2e's)."""
