# Built CONCURRENTLY: the inbox of a running service may be large, and every consumer
# inserts into it; a plain CREATE INDEX would stop them all while it scans.

import django.contrib.postgres.operations
from django.db import migrations, models


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ('events', '0003_parked_events_dead_letter_fingerprint'),
    ]

    operations = [
        django.contrib.postgres.operations.AddIndexConcurrently(
            model_name='processedevent',
            index=models.Index(fields=['processed_at'], name='events_processed_at_idx'),
        ),
    ]
