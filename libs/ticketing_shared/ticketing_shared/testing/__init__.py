"""Test helpers every service shares: ``helpers`` and the pytest plugin ``ticketing_shared.testing.plugin``."""
