from django.urls import path

from tickets import views

# Mounted at ``api/tickets``: API paths have no trailing slash (docs/api.md).
urlpatterns = [
    path("", views.TicketListCreate.as_view(), name="ticket-list"),
    path("/mine", views.MyTickets.as_view(), name="ticket-mine"),
    path("/<str:ticket_id>", views.TicketDetail.as_view(), name="ticket-detail"),
]
