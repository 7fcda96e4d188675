"""A bare write endpoint that ``make bench`` measures the services against (never in production).

``POST /_bench/baseline`` inserts one row in one transaction and answers its id: the
same gunicorn, middleware and database as the API, with none of the API's own work.
Reservations per second divided by baselines per second says how much of the stack's
write capacity a reservation uses. The app is installed only with ``BENCH_ENDPOINTS``
set in development (:func:`ticketing_shared.conf.service_settings`); production refuses it.
"""
