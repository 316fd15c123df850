"""The plugin installed next to a real `claimx-enricher` process on the test broker: a completed
water mitigation task ends up as a flat record on the plugin's topic."""

from __future__ import annotations

import orjson
from mitigation_support import PLUGIN, TOPIC, WATER, mitigation_project, task_event

from vpipe_core.registry import load_worker
from vpipe_testing.claimx.fake_api import FakeClaimxApi
from vpipe_testing.kafka import ensure_topics, produce, read_all
from vpipe_testing.workers import WorkerProcess, worker_environment

TOPICS = [
    "claimx.enrichment.pending",
    "claimx.entities.rows",
    "claimx.downloads.pending",
    "claimx.retry.1s",
    "claimx.retry.2s",
    "claimx.dlq",
    TOPIC,
]


def test_enricher_process_publishes_the_mitigation_record(fresh_kafka, tmp_path):
    ensure_topics(fresh_kafka, TOPICS)
    with FakeClaimxApi(projects=[mitigation_project()]) as fake:
        env = worker_environment(
            fresh_kafka,
            tmp_path,
            RETRY_DELAYS="1,2",
            CLAIMX_API_URL=fake.url,
            CLAIMX_API_TOKEN=fake.token,
            CLAIMX_API_SENDER_USERNAME="vpipe-test",
            VPIPE_PLUGINS=PLUGIN,
            VPIPE_PLUGINS_STRICT="true",
            VPIPE_PLUGIN_CONFIG_DIR=str(tmp_path / "plugins"),
        )
        port = load_worker("claimx-enricher").port_for(1)
        worker = WorkerProcess("claimx-enricher", env, tmp_path, 1, port).start()
        try:
            worker.wait_ready(60)  # start + group join on a loaded CI machine
            tasks = [task_event("6021187"), task_event(WATER)]
            produce(fresh_kafka, "claimx.enrichment.pending", [orjson.dumps(t) for t in tasks])

            (message,) = read_all(fresh_kafka, TOPIC, expect=1)
            assert message.key() == tasks[1]["event_id"].encode()
            record = orjson.loads(message.value())
            assert (record["assignment_id"], record["task_id"]) == (7100001, 25367)
            assert [m["media_id"] for m in record["media"]] == ["98810467", "98810452"]
            assert len(read_all(fresh_kafka, "claimx.entities.rows", expect=2)) == 2
        finally:
            worker.stop()
