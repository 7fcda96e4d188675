from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='order',
            name='cancel_reason',
            field=models.CharField(blank=True, default='', choices=[('expired', 'Expired unpaid'), ('by_buyer', 'Cancelled by the buyer'), ('price_changed', 'The seller changed the price'), ('operator', 'Cancelled by an operator')], help_text='Why a cancelled order was cancelled; empty otherwise (and for orders cancelled before reasons).', max_length=20),
        ),
        migrations.AddConstraint(
            model_name='order',
            constraint=models.CheckConstraint(condition=models.Q(('cancel_reason', ''), models.Q(('cancel_reason__in', ['expired', 'by_buyer', 'price_changed', 'operator']), ('status', 'cancelled')), _connector='OR'), name='orders_only_cancelled_have_a_cancel_reason'),
        ),
    ]
