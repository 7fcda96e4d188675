from django.urls import path

from orders import views

# Mounted at ``api/`` like every service's API: paths have no trailing slash (docs/api.md).
urlpatterns = [
    path("orders", views.OrderListCreate.as_view(), name="order-list"),
    path("orders/<uuid:pk>", views.OrderDetail.as_view(), name="order-detail"),
    path("orders/<uuid:pk>/tickets", views.OrderTicketAdd.as_view(), name="order-ticket-add"),
    path("orders/<uuid:pk>/tickets/<uuid:ticket_id>", views.OrderTicketRemove.as_view(), name="order-ticket-remove"),
]
