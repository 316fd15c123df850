"""KAFKA_STATIC_MEMBERSHIP: each instance joins its group with `group.instance.id` =
`<worker>-<instance>@<host>`, the same id after a restart, and a SIGKILLed instance started again
at once gets its partitions back."""

from __future__ import annotations

import signal
import time

import pytest
from confluent_kafka.admin import AdminClient

from vpipe_core.config.core import CoreSettings
from vpipe_core.config.loader import load_settings
from vpipe_core.kafka.clientconf import consumer_config
from vpipe_testing.apache_kafka import SESSION_TIMEOUT_MS
from vpipe_testing.brokers import broker_kind

STATIC = {"KAFKA_STATIC_MEMBERSHIP": "true", "HOST_NAME": "host-a"}


def test_the_consumer_config_carries_the_instance_id_only_when_asked():
    base = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}
    plain = consumer_config(load_settings(CoreSettings, base), "g", "w-1@h")
    static = consumer_config(load_settings(CoreSettings, {**base, **STATIC}), "g", "w-1@h")
    assert "group.instance.id" not in plain
    assert static["group.instance.id"] == "w-1@h"


def static_members(bootstrap: str, group: str) -> list[str]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    (described,) = admin.describe_consumer_groups([group]).values()
    return [member.group_instance_id for member in described.result(10).members]


def test_a_static_member_killed_and_started_again_keeps_its_id(
    testdom, start_worker, group_protocol
):
    if broker_kind() != "kafka":
        pytest.skip("the memory-only broker does not report group instance ids")
    settings = {**STATIC, "KAFKA_GROUP_PROTOCOL": group_protocol}
    first = start_worker("testdom-echo", testdom, **settings)
    assert static_members(testdom, "testdom-echo") == ["testdom-echo-1@host-a"]
    first.signal(signal.SIGKILL)
    first.wait(10)
    if group_protocol == "consumer":
        # KIP-848 refuses the id until the crashed member's session expires: what the units'
        # RestartSec waits for (`vpipe deploy units --static-membership`)
        time.sleep(SESSION_TIMEOUT_MS / 1000 + 2)
    again = start_worker("testdom-echo", testdom, **settings)  # ready: it holds partitions
    assert static_members(testdom, "testdom-echo") == ["testdom-echo-1@host-a"]
    assert again.probe("/readyz")[0] == 200
