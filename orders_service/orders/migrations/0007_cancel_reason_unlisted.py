# The new reason's constraint is added NOT VALID (a short lock, no scan of the orders table
# under it) and validated in 0008, which scans without blocking writes.

import django.contrib.postgres.operations
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0006_buyer_emails'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='order',
            name='orders_only_cancelled_have_a_cancel_reason',
        ),
        migrations.AlterField(
            model_name='order',
            name='cancel_reason',
            field=models.CharField(blank=True, choices=[('expired', 'Expired unpaid'), ('by_buyer', 'Cancelled by the buyer'), ('price_changed', 'The seller changed the price'), ('operator', 'Cancelled by an operator'), ('unlisted', 'The seller took a ticket off sale')], default='', help_text='Why a cancelled order was cancelled; empty otherwise (and for orders cancelled before reasons).', max_length=20),
        ),
        django.contrib.postgres.operations.AddConstraintNotValid(
            model_name='order',
            constraint=models.CheckConstraint(condition=models.Q(('cancel_reason', ''), models.Q(('cancel_reason__in', ['expired', 'by_buyer', 'price_changed', 'operator', 'unlisted']), ('status', 'cancelled')), _connector='OR'), name='orders_only_cancelled_have_a_cancel_reason'),
        ),
    ]
