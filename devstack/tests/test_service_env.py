"""The environment every local service process and unit suite starts with."""

from devstack import profiles
from devstack.services import base_env


def test_local_topics_get_the_local_brokers_own_partition_count(monkeypatch):
    """tansu auto-creates a topic a client asks for with 4 partitions; after it restarts empty,
    the services creating theirs with another count would race it, and tansu would shrink
    a topic under consumers that saw 4 (they stop consuming it)."""
    monkeypatch.delenv("KAFKA_TOPIC_PARTITIONS", raising=False)
    profile = profiles.load("test")

    assert base_env(profile, database="orders", redis_db=3)["KAFKA_TOPIC_PARTITIONS"] == "4"

    monkeypatch.setenv("KAFKA_TOPIC_PARTITIONS", "6")
    assert base_env(profile, database="orders", redis_db=3)["KAFKA_TOPIC_PARTITIONS"] == "6"
