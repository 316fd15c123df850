"""Consumer lag per group and partition as the broker keeps it: the group's committed offset and
the partition's log-end offset, the figures `kafka-consumer-groups --describe` prints.

The workers' own `vpipe_consumer_lag` gauges come from librdkafka statistics (every 15 s, and
only from running instances); this asks the broker, so it also covers groups with no running
member and agrees with Kafka's own tools.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vpipe_core.deploy.lag import PartitionLag

GroupPartition = tuple[str, str, int]  # (group, topic, partition)


class BrokerUnreachable(RuntimeError):
    pass


def broker_lags(
    client_config: Mapping[str, Any], groups: Sequence[str], timeout_s: float
) -> list[PartitionLag]:
    """One row per partition each group has committed, sorted; BrokerUnreachable when the
    broker does not answer within `timeout_s`."""
    from confluent_kafka.admin import AdminClient

    from vpipe_core.kafka.clientconf import QUIET_LOGS

    admin = AdminClient({**client_config, **QUIET_LOGS})
    committed = _committed(admin, groups, timeout_s)
    ends = _log_ends(admin, {(topic, part) for _, topic, part in committed}, timeout_s)
    owners = _owners(admin, groups, timeout_s)
    rows = []
    for (group, topic, part), offset in sorted(committed.items()):
        end = ends.get((topic, part))
        if end is not None:
            owner = owners.get((group, topic, part), "-")
            rows.append(PartitionLag(group, topic, part, end - offset, offset, owner))
    return rows


def _committed(admin: Any, groups: Sequence[str], timeout_s: float) -> dict[GroupPartition, int]:
    from confluent_kafka import ConsumerGroupTopicPartitions

    committed: dict[GroupPartition, int] = {}
    for group in groups:  # the API answers one group per request
        future = admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=timeout_s
        )[group]
        for tp in _result(future, timeout_s).topic_partitions or []:
            if tp.offset >= 0:
                committed[group, tp.topic, tp.partition] = tp.offset
    return committed


def _log_ends(
    admin: Any, partitions: set[tuple[str, int]], timeout_s: float
) -> dict[tuple[str, int], int]:
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec

    if not partitions:
        return {}
    request = {TopicPartition(topic, part): OffsetSpec.latest() for topic, part in partitions}
    futures = admin.list_offsets(request, request_timeout=timeout_s)
    return {(tp.topic, tp.partition): _result(f, timeout_s).offset for tp, f in futures.items()}


def _owners(admin: Any, groups: Sequence[str], timeout_s: float) -> dict[GroupPartition, str]:
    """(group, topic, partition) -> the client id (the worker instance) that holds it now."""
    if not groups:
        return {}
    owners: dict[GroupPartition, str] = {}
    futures = admin.describe_consumer_groups(list(groups), request_timeout=timeout_s)
    for group, future in futures.items():
        for member in _result(future, timeout_s).members or []:
            for tp in member.assignment.topic_partitions if member.assignment else []:
                owners[group, tp.topic, tp.partition] = member.client_id
    return owners


def _result(future: Any, timeout_s: float) -> Any:
    from confluent_kafka import KafkaException

    try:
        return future.result(timeout_s + 1)
    except KafkaException as exc:
        raise BrokerUnreachable(str(exc.args[0] if exc.args else exc)) from exc
    except TimeoutError as exc:
        raise BrokerUnreachable(f"no answer within {timeout_s:g} s") from exc
