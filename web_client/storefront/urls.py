from django.urls import path

from storefront.views import accounts, cart, gifts, orders, tickets

app_name = "storefront"

urlpatterns = [
    path("", tickets.home, name="home"),
    path("signup", accounts.signup, name="signup"),
    path("signin", accounts.signin, name="signin"),
    path("signout", accounts.signout, name="signout"),
    path("password/forgot", accounts.password_forgot, name="password_forgot"),
    path("reset/<str:uid>/<str:token>", accounts.password_reset, name="password_reset"),
    path("tickets/new", tickets.ticket_create, name="ticket_create"),
    path("tickets/mine", tickets.my_tickets, name="my_tickets"),
    path("tickets/<uuid:ticket_id>", tickets.ticket_detail, name="ticket"),
    path("tickets/<uuid:ticket_id>/edit", tickets.ticket_edit, name="ticket_edit"),
    path("tickets/<uuid:ticket_id>/unlist", tickets.ticket_unlist, name="ticket_unlist"),
    path("tickets/<uuid:ticket_id>/buy", tickets.ticket_buy, name="ticket_buy"),
    path("tickets/<uuid:ticket_id>/cart", cart.cart_add, name="cart_add"),
    path("tickets/<uuid:ticket_id>/gift", gifts.gift_create, name="gift_create"),
    path("cart", cart.cart, name="cart"),
    path("orders/<uuid:order_id>/tickets/<uuid:ticket_id>/remove", cart.cart_remove, name="cart_remove"),
    path("gifts/<slug:code>", gifts.gift, name="gift"),
    path("gifts/<slug:code>/revoke", gifts.gift_revoke, name="gift_revoke"),
    path("orders", orders.my_orders, name="my_orders"),
    path("orders/<uuid:order_id>", orders.order_detail, name="order"),
    path("orders/<uuid:order_id>/pay", orders.order_pay, name="order_pay"),
    path("orders/<uuid:order_id>/pay/confirm", orders.order_pay_confirm, name="order_pay_confirm"),
    path("orders/<uuid:order_id>/cancel", orders.order_cancel, name="order_cancel"),
]
