"""Local stack tooling: ``python -m devstack dev|test|bench``.

Runs PostgreSQL, Redis, a Kafka-protocol broker and a Stripe double from PyPI
packages as child processes, then every service that exists in the repository.
"""
