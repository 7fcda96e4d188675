"""Code every ticketing service shares: settings, auth, errors, health, events."""
