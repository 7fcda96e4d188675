import django.contrib.postgres.operations
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('orders', '0007_cancel_reason_unlisted'),
    ]

    operations = [
        django.contrib.postgres.operations.ValidateConstraint(
            model_name='order',
            name='orders_only_cancelled_have_a_cancel_reason',
        ),
    ]
