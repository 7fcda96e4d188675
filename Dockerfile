# syntax=docker/dockerfile:1
# Every image of the project, from the repository root (the services need
# libs/ticketing_shared, which is outside their folders). SERVICE names the folder:
#   docker build --build-arg SERVICE=orders_service -t ticketing/orders:dev .
#   docker build --target stripe-double -t ticketing/stripe-double:dev .
# `make images` builds them all with the tags the chart pulls; Dockerfile.dockerignore
# keeps the context to the shared library, the service folders and this folder's inputs.
ARG PYTHON_IMAGE=python:3.11-slim

# What every image shares: the interpreter settings and the unprivileged user the
# chart's security context expects.
FROM ${PYTHON_IMAGE} AS base
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app --shell /usr/sbin/nologin app

# Dependencies go into a virtualenv here, so the runtime stage gets them without
# pip, the wheel cache or the sources of the shared library.
FROM ${PYTHON_IMAGE} AS deps
ARG SERVICE
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN test -n "${SERVICE}" || { echo "Set the service folder: --build-arg SERVICE=orders_service" >&2; exit 1; }
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY libs/ticketing_shared /build/libs/ticketing_shared
COPY ${SERVICE}/requirements.txt /build/requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install /build/libs/ticketing_shared -r /build/requirements.txt

# The Stripe test double of a trial install (localstripe), clearly not Stripe: the
# chart runs it only when no Stripe keys are given. It keeps its state in /tmp.
FROM base AS stripe-double
LABEL org.opencontainers.image.title="ticketing-stripe-double" \
      org.opencontainers.image.description="Stripe test double (localstripe) for trial installs; never production"
COPY docker/stripe-double-requirements.txt /build/requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv /opt/venv && pip install -r /build/requirements.txt && rm -rf /build
USER 10001:10001
EXPOSE 8420
CMD ["localstripe", "--port", "8420"]

# A service: web (gunicorn), and from the same image the chart runs its other processes:
#   python manage.py consume_events
#   celery -A config worker
#   celery -A config beat --pidfile=
FROM base AS service
ARG SERVICE
LABEL org.opencontainers.image.title="ticketing-${SERVICE}" \
      org.opencontainers.image.description="Ticketing ${SERVICE}"
ENV DJANGO_SETTINGS_MODULE=config.settings
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
# Root owns the code: the process can read it, not change it.
COPY ${SERVICE}/ ./
# Static files are collected (and compressed, with a manifest, for whitenoise) at build
# time. Production settings refuse to load without their secrets and endpoints, so
# collectstatic gets placeholders (what any service may require) that live only for this
# one command; nothing is contacted. The bytecode is compiled now because the root
# filesystem is read-only at run time.
RUN DJANGO_DEBUG=0 \
    DJANGO_SECRET_KEY=collectstatic \
    DATABASE_URL=postgres://collectstatic@127.0.0.1:1/collectstatic \
    REDIS_URL=redis://127.0.0.1:1/0 \
    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1 \
    JWT_PRIVATE_KEY=collectstatic \
    JWT_PUBLIC_KEY=collectstatic \
    STRIPE_SECRET_KEY=sk_collectstatic \
    STRIPE_WEBHOOK_SECRET=whsec_collectstatic \
    STRIPE_PUBLISHABLE_KEY=pk_collectstatic \
    AUTH_SERVICE_URL=http://auth.invalid \
    TICKETS_SERVICE_URL=http://tickets.invalid \
    ORDERS_SERVICE_URL=http://orders.invalid \
    PAYMENTS_SERVICE_URL=http://payments.invalid \
    EMAIL_HOST=smtp.invalid \
    python manage.py collectstatic --noinput \
 && python -m compileall -q /app
USER 10001:10001
EXPOSE 8000
# The web process (the chart sets the workers, threads and timeouts). The shared gunicorn
# config empties the metrics folder at start and marks exited workers, so /metrics adds
# up both workers' figures; --env gives gunicorn and its workers that folder.
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", \
     "--config", "python:ticketing_shared.gunicorn_conf", "--env", "PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus", \
     "--workers", "2", "--threads", "4", \
     "--access-logfile", "-", "--worker-tmp-dir", "/dev/shm", "--no-control-socket"]
