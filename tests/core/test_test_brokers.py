"""The test kit's broker choice and the pinned Apache Kafka build."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from vpipe_testing import apache_kafka, brokers


def test_the_pom_pins_the_kafka_version_the_kit_names():
    pom = resources.files("vpipe_testing").joinpath("kafka_jars/pom.xml").read_text()
    assert re.search(r"<kafka.version>([^<]+)</kafka.version>", pom).group(1) == (
        apache_kafka.KAFKA_VERSION
    )


def test_an_unknown_broker_kind_names_the_variable_and_the_choices(monkeypatch):
    monkeypatch.setenv(brokers.BROKER_ENV, "redpanda")
    with pytest.raises(ValueError, match="VPIPE_TEST_BROKER='redpanda': expected one of kafka"):
        brokers.broker_kind()


@pytest.mark.parametrize(("kind", "timeout_ms"), [("kafka", 6000), ("local", 4000)])
def test_each_broker_gets_the_shortest_session_timeout_it_accepts(kind, timeout_ms):
    assert brokers.session_timeout_ms(kind) == timeout_ms


def test_the_test_broker_runs_with_the_production_settings():
    kafka = apache_kafka.ApacheKafka(data_dir=Path("/nonexistent/data"), port=19092)
    properties = kafka.properties()
    assert apache_kafka.production_settings().items() <= properties.items()
    assert properties["auto.create.topics.enable"] == "false"
    assert properties["message.max.bytes"] == str(10 * 1024 * 1024)


def test_kraft_cluster_ids_never_look_like_an_option():
    ids = [apache_kafka._kraft_cluster_id() for _ in range(2000)]
    assert not [cluster_id for cluster_id in ids if cluster_id.startswith("-")]
    assert {len(cluster_id) for cluster_id in ids} == {22}
