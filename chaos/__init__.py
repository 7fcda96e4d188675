"""The chaos suite (``make chaos``): a purchase load while processes die, then an audit.

- :mod:`chaos.run` starts a fresh stack, runs the load and the faults, waits for the
  stack to settle and prints the report;
- :mod:`chaos.load` plays sellers and buyers over HTTP;
- :mod:`chaos.faults` SIGKILLs consumers, Celery workers, embedded beats and web
  processes and restarts the broker, then runs the operators' recovery runbook;
- :mod:`chaos.audit` reads every service's database (and the Stripe double) and checks
  the invariants that must hold across them once the events have settled.
"""
