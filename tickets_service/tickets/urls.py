from django.urls import path

from tickets import views

# Mounted at ``api/`` like every service's API: paths have no trailing slash (docs/api.md).
urlpatterns = [
    path("tickets", views.TicketListCreate.as_view(), name="ticket-list"),
    path("tickets/mine", views.MyTickets.as_view(), name="ticket-mine"),
    path("tickets/<str:ticket_id>", views.TicketDetail.as_view(), name="ticket-detail"),
]
