from ticketing_shared.celery_app import make_celery_app

app = make_celery_app("payments")
