"""Parked events, and dead letters identified by event id instead of (topic, partition, offset).

Offsets are reused when a broker loses its log: keyed by offset, a new dead letter would
land on an old row and inherit its status.
"""

from django.db import migrations, models


def fingerprint_existing(apps, schema_editor):
    DeadLetter = apps.get_model("events", "DeadLetter")
    for letter in DeadLetter.objects.filter(fingerprint__isnull=True).only("pk", "event_id"):
        # Two old rows may hold the same event (one per redelivered offset): keep both.
        taken = letter.event_id and DeadLetter.objects.filter(fingerprint=f"event:{letter.event_id}").exists()
        letter.fingerprint = f"event:{letter.event_id}" if letter.event_id and not taken else f"legacy:{letter.pk}"
        letter.save(update_fields=["fingerprint"])


class Migration(migrations.Migration):

    dependencies = [
        ("events", "0002_outbox_single_drainer"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="deadletter", name="dead_letter_message_unique"),
        migrations.AddField(
            model_name="deadletter",
            name="fingerprint",
            field=models.CharField(max_length=100, null=True, editable=False),
        ),
        migrations.RunPython(fingerprint_existing, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="deadletter",
            name="fingerprint",
            field=models.CharField(
                editable=False,
                help_text="The event id, or a digest of a message that has none: a redelivery updates its row, "
                "while a new message at a reused offset (a broker that lost its log) gets its own.",
                max_length=100,
                unique=True,
            ),
        ),
        migrations.CreateModel(
            name="ParkedEvent",
            fields=[
                ("seq", models.BigAutoField(
                    help_text="Arrival order; retried in this order per topic and key.",
                    primary_key=True, serialize=False)),
                ("event_id", models.UUIDField(unique=True)),
                ("event_type", models.CharField(max_length=100)),
                ("topic", models.CharField(max_length=200)),
                ("partition", models.IntegerField()),
                ("offset", models.BigIntegerField()),
                ("key", models.TextField(blank=True, help_text="The message key: the aggregate id.")),
                ("value", models.TextField()),
                ("headers", models.JSONField(blank=True, default=dict)),
                ("reason", models.CharField(
                    choices=[("early", "Waits for its predecessor"), ("failed", "Its handler failed"),
                             ("behind", "Behind a parked event of the same aggregate")],
                    max_length=20)),
                ("error", models.TextField(blank=True)),
                ("attempts", models.PositiveIntegerField(
                    default=0, help_text="Times its handler ran and could not apply it.")),
                ("first_seen_at", models.DateTimeField(
                    help_text="When it first arrived: an early event's wait counts from here.")),
                ("next_attempt_at", models.DateTimeField()),
            ],
            options={
                "db_table": "events_parked",
                "ordering": ["seq"],
                "indexes": [
                    models.Index(fields=["topic", "key", "seq"], name="parked_aggregate_idx"),
                    models.Index(fields=["key"], name="parked_key_idx"),
                    models.Index(fields=["next_attempt_at"], name="parked_due_idx"),
                ],
            },
        ),
    ]
