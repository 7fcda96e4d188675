from django.urls import path

from orders.api import views

urlpatterns = [
    path("orders", views.OrderListCreateView.as_view(), name="order-list"),
    path("orders/<uuid:pk>", views.OrderDetailView.as_view(), name="order-detail"),
]
