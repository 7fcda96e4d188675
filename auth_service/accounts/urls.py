from django.urls import path

from accounts import views

urlpatterns = [
    path("signup", views.signup, name="signup"),
    path("signin", views.signin, name="signin"),
    path("signout", views.signout, name="signout"),
    path("currentuser", views.currentuser, name="currentuser"),
    path("token/refresh", views.token_refresh, name="token-refresh"),
    path("jwks.json", views.jwks, name="jwks"),
]
