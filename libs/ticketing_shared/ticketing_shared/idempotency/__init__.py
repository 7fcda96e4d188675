"""``Idempotency-Key`` for the POSTs that make something (``/api/orders``, ``/api/payments``).

A client that did not hear the answer (a timeout, a dropped connection, a double click)
sends the same request again with the same key and gets the first answer back, instead
of a second order or a second charge. The rules, in docs/api.md:

- a key is the client's own, per user (the token's ``user_id``), 1 to 255 visible ASCII
  characters, remembered for 24 hours;
- the same key and the same request (method, path, JSON body) answers what the first one
  answered (status and body, with ``Idempotent-Replayed: true``) and changes nothing;
- the same key with another request is 422: a client bug, never answered with someone
  else's result;
- while the first request runs, a duplicate gets 409 and may try again in a moment;
- only an answer that did something (2xx) is kept: a refusal or a failure changed
  nothing, so its key is let go and a retry runs again.

Services opt in with the Django app ``ticketing_shared.idempotency`` (one table per
service database) and :func:`ticketing_shared.idempotency.keys.respond_once` in their
views. Nothing here imports models, so settings may read the constants below.
"""

from datetime import timedelta

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
RETENTION = timedelta(hours=24)

# Merged into a service's CELERY_BEAT_SCHEDULE: keys older than RETENTION are deleted hourly.
BEAT_SCHEDULE = {"prune-idempotency-keys": {"task": "idempotency.prune", "schedule": 3600.0}}
