"""Orders hold one or more tickets: an item per ticket, and the one-live-order rule on items."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

LIVE = ("created", "awaiting_payment", "complete")


def items_of_existing_orders(apps, schema_editor):
    """Every order so far held exactly its one ticket, at the order's price."""
    Order = apps.get_model("orders", "Order")
    OrderItem = apps.get_model("orders", "OrderItem")
    batch = []
    for order in Order.objects.all().iterator(chunk_size=2000):
        batch.append(OrderItem(order_id=order.id, ticket_id=order.ticket_id, price=order.price,
                               live=order.status in LIVE, added_at=order.created_at))
        if len(batch) >= 2000:
            OrderItem.objects.bulk_create(batch)
            batch = []
    OrderItem.objects.bulk_create(batch)


def orders_from_items(apps, schema_editor):
    """Going back: the items go with their table; an order keeps its first ticket."""


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0003_price_money_precision'),
    ]

    operations = [
        migrations.CreateModel(
            name='OrderItem',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('price', models.DecimalField(decimal_places=2, help_text="The ticket's price when it was reserved.", max_digits=10)),
                ('live', models.BooleanField(default=True, help_text='The order is created, awaiting payment or complete.')),
                ('added_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('order', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='items', to='orders.order')),
                ('ticket', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='order_items', to='orders.ticket')),
            ],
            options={
                'ordering': ['added_at', 'id'],
            },
        ),
        migrations.RunPython(items_of_existing_orders, orders_from_items),
        migrations.RemoveConstraint(
            model_name='order',
            name='orders_one_live_order_per_ticket',
        ),
        migrations.AddConstraint(
            model_name='orderitem',
            constraint=models.UniqueConstraint(condition=models.Q(('live', True)), fields=('ticket',), name='orders_one_live_order_per_ticket', violation_error_message='Ticket is already reserved'),
        ),
        migrations.AddConstraint(
            model_name='orderitem',
            constraint=models.UniqueConstraint(fields=('order', 'ticket'), name='orders_ticket_once_per_order'),
        ),
        migrations.AlterField(
            model_name='order',
            name='price',
            field=models.DecimalField(decimal_places=2, help_text="The total of its tickets' prices when they were reserved: what the buyer pays.", max_digits=10),
        ),
        migrations.AlterField(
            model_name='order',
            name='ticket',
            field=models.ForeignKey(help_text="The order's first ticket.", on_delete=django.db.models.deletion.PROTECT, related_name='orders', to='orders.ticket'),
        ),
    ]
