from django.urls import path

from tickets import gift_views, views

# Mounted at ``api/`` like every service's API: paths have no trailing slash (docs/api.md).
urlpatterns = [
    path("tickets", views.TicketListCreate.as_view(), name="ticket-list"),
    path("tickets/mine", views.MyTickets.as_view(), name="ticket-mine"),
    path("tickets/owned", gift_views.OwnedTickets.as_view(), name="ticket-owned"),
    path("tickets/gifts/<str:code>/claim", gift_views.GiftClaim.as_view(), name="gift-claim"),
    path("tickets/gifts/<str:code>", gift_views.GiftRevoke.as_view(), name="gift-revoke"),
    path("tickets/<uuid:ticket_id>/gift", gift_views.GiftCreate.as_view(), name="ticket-gift"),
    path("tickets/<str:ticket_id>", views.TicketDetail.as_view(), name="ticket-detail"),
]
