from django.urls import path

from payments import views

urlpatterns = [
    path("payments", views.payment_create, name="payment-create"),
    path("payments/webhook", views.stripe_webhook, name="stripe-webhook"),
    path("payments/<uuid:pk>/confirm", views.payment_confirm, name="payment-confirm"),
]
