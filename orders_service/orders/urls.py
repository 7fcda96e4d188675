from django.urls import path

from orders import views

# Mounted at ``api/orders``: API paths have no trailing slash (docs/api.md).
urlpatterns = [
    path("", views.OrderListCreate.as_view(), name="order-list"),
    path("/<uuid:pk>", views.OrderDetail.as_view(), name="order-detail"),
]
