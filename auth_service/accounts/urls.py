from django.urls import path

from accounts import operator_status, views

urlpatterns = [
    path("users/signup", views.signup, name="signup"),
    path("users/signin", views.signin, name="signin"),
    path("users/signout", views.signout, name="signout"),
    path("users/currentuser", views.currentuser, name="currentuser"),
    path("users/token/refresh", views.token_refresh, name="token-refresh"),
    path("users/password/reset", views.password_reset, name="password-reset"),
    path("users/password/reset/confirm", views.password_reset_confirm, name="password-reset-confirm"),
    path("users/jwks.json", views.jwks, name="jwks"),
    path("users/operator-status", operator_status.operator_status, name="operator-status"),
]
