"""systemd units: the committed files are the renderer's output, follow runtime.md §12, pass
`systemd-analyze verify` and rate 2.0 or lower on `systemd-analyze security --offline=yes`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from deploy_facts import DEPLOY, REGENERATE_UNITS, SHIPPED_PACKAGES

from vpipe_core.deploy.catalogue import installed_specs
from vpipe_core.deploy.units import Layout, compare_units, render_units, unit_name, write_units

UNITS_DIR = DEPLOY / "systemd"
MAX_EXPOSURE = 2.0
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed on this machine"
)


def shipped_units(layout: Layout | None = None) -> dict[str, str]:
    return render_units(installed_specs(packages=SHIPPED_PACKAGES), layout or Layout())


def directives(text: str) -> dict[str, list[str]]:
    """Key → values (in order) of a unit file, comments left out."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_committed_units_are_the_renderer_output():
    diff = compare_units(UNITS_DIR, shipped_units())
    assert diff.clean, (
        f"deploy/systemd differs from the installed WorkerSpecs (missing {diff.missing}, "
        f"changed {diff.changed}, stale {diff.stale}); regenerate with: {REGENERATE_UNITS}"
    )


def test_one_unit_per_worker_templates_for_multi_instance():
    specs = installed_specs(packages=SHIPPED_PACKAGES)
    names = {path.name for path in UNITS_DIR.glob("*.service")}
    assert names == {unit_name(spec) for spec in specs}
    for spec in specs:
        assert unit_name(spec).endswith("@.service") == (spec.max_instances > 1), spec.name


def test_units_carry_the_spec_resources_instance_and_common_settings():
    for spec in installed_specs(packages=SHIPPED_PACKAGES):
        unit = directives((UNITS_DIR / unit_name(spec)).read_text())
        instance = "%i" if spec.multi_instance else "1"
        assert unit["ExecStart"] == [
            f"/opt/kafka-pipeline/venv/bin/vpipe-worker --name {spec.name} --instance {instance}"
        ]
        assert unit["MemoryMax"] == [spec.memory_max]
        assert unit["CPUQuota"] == [spec.cpu_quota]
        assert unit["EnvironmentFile"] == ["/opt/kafka-pipeline/config/.env"]
        assert ("WORKER_INSTANCE=%i" in unit["Environment"]) == spec.multi_instance
        for key, value in {
            "Type": "simple",
            "User": "kafka-pipeline",
            "Group": "kafka-pipeline",
            "Restart": "on-failure",
            "RestartSec": "10",
            "StartLimitIntervalSec": "300",
            "StartLimitBurst": "10",
            "RestartPreventExitStatus": "2",
            "TimeoutStopSec": "60",
            "KillSignal": "SIGTERM",
            "LimitNOFILE": "65536",
            "NoNewPrivileges": "true",
            "PrivateTmp": "true",
            "ReadWritePaths": "/var/lib/kafka-pipeline /opt/kafka-pipeline/logs",
            "After": "network-online.target",
            "Wants": "network-online.target",
        }.items():
            assert unit[key] == [value], (spec.name, key)


def test_units_follow_a_custom_layout(tmp_path: Path):
    layout = Layout("/srv/vp", "/data/vp", "svc", "svcgroup")
    text = next(iter(shipped_units(layout).values()))
    unit = directives(text)
    assert unit["User"] == ["svc"] and unit["Group"] == ["svcgroup"]
    assert unit["EnvironmentFile"] == ["/srv/vp/config/.env"]
    assert unit["ReadWritePaths"] == ["/data/vp /srv/vp/logs"]
    assert unit["ExecStart"][0].startswith("/srv/vp/venv/bin/vpipe-worker ")


def test_writing_prunes_only_units_it_rendered(tmp_path: Path):
    units = shipped_units()
    stale = next(iter(units.values()))
    (tmp_path / "kafka-pipeline-gone.service").write_text(stale)
    (tmp_path / "kafka-pipeline-handmade.service").write_text("[Service]\nExecStart=/bin/true\n")
    diff = write_units(tmp_path, units)
    assert diff.stale == ["kafka-pipeline-gone.service"]
    assert not (tmp_path / "kafka-pipeline-gone.service").exists()
    assert (tmp_path / "kafka-pipeline-handmade.service").exists()
    assert compare_units(tmp_path, units).stale == []


@needs_systemd_analyze
def test_every_unit_rates_2_or_lower_on_systemd_analyze_security():
    assert SYSTEMD_ANALYZE is not None
    for path in sorted(UNITS_DIR.glob("*.service")):
        result = subprocess.run(
            [SYSTEMD_ANALYZE, "security", "--offline=yes", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
        assert match, f"{path.name}: no rating in\n{result.stdout}\n{result.stderr}"
        assert float(match.group(1)) <= MAX_EXPOSURE, f"{path.name} rated {match.group(1)}"


@needs_systemd_analyze
def test_every_unit_passes_systemd_analyze_verify(tmp_path: Path):
    """Rendered with the install dir in `tmp_path`, where the ExecStart program exists (the
    committed units point at /opt/kafka-pipeline, absent here); everything else is identical."""
    assert SYSTEMD_ANALYZE is not None
    install_dir = tmp_path / "opt" / "kafka-pipeline"
    worker = install_dir / "venv" / "bin" / "vpipe-worker"
    worker.parent.mkdir(parents=True)
    worker.write_text("#!/bin/sh\n")
    worker.chmod(0o755)
    units_dir = tmp_path / "units"
    write_units(units_dir, shipped_units(Layout(install_dir, tmp_path / "var")))
    for path in sorted(units_dir.glob("*.service")):
        result = subprocess.run(
            [SYSTEMD_ANALYZE, "verify", str(path)], capture_output=True, text=True, check=False
        )
        complaints = [line for line in result.stderr.splitlines() if "kafka-pipeline" in line]
        assert result.returncode == 0 and not complaints, f"{path.name}:\n{result.stderr}"


def test_static_membership_units_restart_after_the_session_timeout():
    """A crashed static member holds its id until its session times out (under KIP-848 a new
    member with that id is refused until then): those units wait that long, plus a margin."""
    static = shipped_units(Layout(static_session_s=45))
    for name, text in shipped_units().items():
        assert directives(text)["RestartSec"] == ["10"], name
        assert directives(static[name])["RestartSec"] == ["50"], name
        assert "KAFKA_STATIC_MEMBERSHIP" in static[name]
