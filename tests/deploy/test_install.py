"""deploy/install.sh: `--dry-run` prints every action and changes nothing; a real run into a temp
root builds the documented layout; a second run updates the code and keeps config, logs, cache and
state. Account management, chown and systemctl are fakes (this may run as root: nothing may touch
the host); pip really installs the checkout, offline, into the temp venv."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from deploy_facts import DEPLOY, REPO
from fakes import FakeSystem, logging_command, write_command

SCRIPT = DEPLOY / "install.sh"
OFFLINE_PIP = "--no-deps --no-index --no-build-isolation"
USER = "kafka-pipeline"
# getent knows nobody, so the script creates the account (with the fake groupadd/useradd).
GETENT = '#!/usr/bin/env bash\nprintf \'getent %s\\n\' "$*" >> "$FAKE_CALLS"\nexit 2\n'


class Tree:
    """A temp root: where install.sh puts things, and the fakes it runs with."""

    def __init__(self, root: Path) -> None:
        self.system = FakeSystem(root / "fakes")
        for name in ("groupadd", "useradd", "chown"):
            logging_command(self.system.bin, name)
        write_command(self.system.bin, "getent", GETENT)
        self.install = root / "opt" / "kafka-pipeline"
        self.data = root / "var" / "lib" / "kafka-pipeline"
        self.units = root / "etc" / "systemd" / "system"
        self.env_file = self.install / "config" / ".env"

    def run(self, *extra: str):
        args = [
            "--install-dir",
            str(self.install),
            "--data-dir",
            str(self.data),
            "--unit-dir",
            str(self.units),
            "--user",
            USER,
            *extra,
        ]
        return self.system.run(SCRIPT, *args, VPIPE_INSTALL_STAGING="1")

    def prepare_offline_venv(self) -> None:
        """A venv that sees this interpreter's packages (pip, setuptools, the dependencies) behind
        its own site-packages, so `pip install --no-deps --no-index` of the checkout works offline;
        install.sh reuses an existing venv, as on every update."""
        venv = self.install / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        parent = sysconfig.get_paths()["purelib"]
        site = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        (site / "site-packages" / "_test_parent.pth").write_text(
            f"import site; site.addsitedir({parent!r})\n"
        )


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_dry_run_prints_every_action_and_changes_nothing(tree: Tree):
    run = tree.run("--dry-run")
    assert run.returncode == 0, run.stderr
    assert not tree.install.exists() and not tree.data.exists() and not tree.units.exists()
    mutating = [call for call in run.calls if not call.startswith("getent ")]
    assert mutating == [], "dry run called a command that changes the system"
    out = run.stdout
    assert f"+ groupadd --system {USER}" in out
    assert f"+ useradd --system --gid {USER} --home-dir {tree.install}" in out
    assert "--shell /sbin/nologin" in out
    for mode_text, directory in [
        ("755", tree.install),
        ("750", tree.install / "config"),
        ("750", tree.install / "config" / "plugins"),
    ]:
        assert f"+ install -d -m {mode_text} {directory}\n" in out
        assert f"+ chown root:{USER} {directory}\n" in out
    assert f"+ install -d -m 750 {tree.data} {tree.data / 'cache'} {tree.data / 'state'}\n" in out
    for directory in (tree.install / "logs", tree.data):
        assert f"+ chown -R {USER}:{USER} {directory}\n" in out
        assert f"+ chmod -R u+rwX\\,g+rX\\,g-w\\,o-rwx {directory}\n" in out  # printf %q
    app_new = tree.install / "app.new"
    assert f"-m venv --clear {tree.install / 'venv'}" in out
    assert (
        f"-m pip install --constraint {REPO / 'deploy' / 'constraints.txt'} {app_new} "
        f"{app_new / 'plugins' / 'vpipe_claimx'} {app_new / 'plugins' / 'vpipe_xact'}\n" in out
    )
    assert f"+ write {tree.env_file} from deploy/env.template" in out
    assert f"+ chown root:{USER} {tree.env_file}\n+ chmod 640 {tree.env_file}\n" in out
    assert (
        f"+ {tree.install / 'venv' / 'bin' / 'vpipe'} deploy units --output {tree.units} "
        f"--install-dir {tree.install} --data-dir {tree.data} --user {USER} --group {USER}"
    ) in out
    assert "+ systemctl daemon-reload" in out


def test_dry_run_from_wheels_installs_offline_from_the_wheelhouse(tree: Tree, tmp_path: Path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name in ("vpipe_core-0.1.0-py3-none-any.whl", "vpipe_xact-0.1.0-py3-none-any.whl"):
        (wheels / name).write_text("")
    run = tree.run("--dry-run", "--wheels", str(wheels))
    assert run.returncode == 0, run.stderr
    assert f"--no-index --find-links {wheels} {wheels / 'vpipe_core-0.1.0-py3-none-any.whl'}" in (
        run.stdout
    )
    assert "+ copy deploy docs from" in run.stdout  # no sources: they come as wheels


def test_options_are_checked(tree: Tree):
    assert "unknown option '--bogus'" in tree.run("--bogus").stderr
    assert "--user needs a value" in tree.system.run(SCRIPT, "--user").stderr
    relative = tree.system.run(SCRIPT, "--install-dir", "opt", "--dry-run")
    assert relative.returncode == 1 and "must be absolute paths" in relative.stderr
    under_tmp = tree.system.run(SCRIPT, "--data-dir", "/tmp/x", "--dry-run")
    assert "--data-dir must not be under /tmp" in under_tmp.stderr


def test_help(tree: Tree):
    run = tree.system.run(SCRIPT, "--help")
    assert run.returncode == 0 and run.stdout.startswith("Usage: install.sh")


def test_real_run_builds_the_layout_and_a_second_run_keeps_config_and_state(tree: Tree):
    tree.prepare_offline_venv()
    first = tree.run("--pip-args", OFFLINE_PIP)
    assert first.returncode == 0, first.stdout + first.stderr
    check_layout(tree)
    assert f"groupadd --system {USER}" in first.calls
    assert any(call.startswith(f"useradd --system --gid {USER} ") for call in first.calls)
    assert_ownership(tree, first.calls)
    assert first.calls[-1] == "systemctl daemon-reload"
    check_the_seeded_env_file(tree)

    tree.env_file.write_text(tree.env_file.read_text() + "LOG_LEVEL=DEBUG\n")
    kept = {
        tree.data / "state" / "xact-poller.cursor": "cursor",
        tree.data / "cache" / "xact" / "pending.bin": "bytes",
        tree.install / "logs" / "xact" / "2026-01-20" / "xact_poller_0120_1430_a-b.log": "log",
        tree.install / "config" / "plugins" / "trigger.toml": "plugin config",
    }
    for path, text in kept.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tree.install / "app" / "left-over-from-an-old-release.py").write_text("")
    (tree.units / "kafka-pipeline-xact-poller.service").unlink()

    second = tree.run("--pip-args", OFFLINE_PIP)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"keeping {tree.env_file}" in second.stdout
    assert tree.env_file.read_text().endswith("LOG_LEVEL=DEBUG\n")
    assert mode(tree.env_file) == 0o640
    for path, text in kept.items():
        assert path.read_text() == text, f"{path} was not kept"
    assert not (tree.install / "app" / "left-over-from-an-old-release.py").exists()
    assert (tree.units / "kafka-pipeline-xact-poller.service").exists()
    check_layout(tree)


def assert_ownership(tree: Tree, calls: list[str]) -> None:
    """Issue 17 item 8: root owns code and config (the service group may read config); the
    service user owns only logs, cache and state, repaired recursively on every run."""
    venv, app = tree.install / "venv", tree.install / "app"
    assert f"chown -R root:root {app} {venv}" in calls
    for path in (tree.install / "config", tree.env_file, tree.install / "config" / "plugins"):
        assert f"chown root:{USER} {path}" in calls
    assert f"chown -R {USER}:{USER} {tree.install / 'logs'}" in calls
    assert f"chown -R {USER}:{USER} {tree.data}" in calls
    service_owned = [c for c in calls if c.startswith(f"chown -R {USER}:") or f" {USER}:" in c]
    assert all(str(app) not in c and str(venv) not in c for c in service_owned)
    assert all("/config" not in c for c in service_owned), service_owned
    for path in [*app.rglob("*"), *venv.rglob("*")]:
        if not path.is_symlink():
            assert not mode(path) & 0o022, f"{path} writable by group or others"


def check_layout(tree: Tree) -> None:
    for directory, expected in [
        (tree.install / "config", 0o750),
        (tree.install / "config" / "plugins", 0o750),
        (tree.install / "logs", 0o750),
        (tree.data, 0o750),
        (tree.data / "cache", 0o750),
        (tree.data / "state", 0o750),
    ]:
        assert directory.is_dir() and mode(directory) == expected, directory
    app = tree.install / "app"
    for item in ("pyproject.toml", "vpipe_core", "plugins/vpipe_xact", "deploy/manage-workers.sh"):
        assert (app / item).exists(), item
    assert not (tree.install / "app.new").exists()
    venv = tree.install / "venv"
    assert (venv / "bin" / "vpipe-worker").exists()
    installed = subprocess.run(
        # -I: neither the working directory nor PYTHONPATH (the test run's) may supply it
        [str(venv / "bin" / "python"), "-I", "-c", "import vpipe_core; print(vpipe_core.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert installed.startswith(str(venv)), "vpipe_core must come from the venv, not the checkout"
    env = tree.env_file.read_text()
    assert mode(tree.env_file) == 0o640
    assert f"LOG_DIR={tree.install / 'logs'}\n" in env
    assert f"CACHE_DIR={tree.data / 'cache'}\n" in env
    assert f"STATE_DIR={tree.data / 'state'}\n" in env
    assert (tree.install / "config" / "env.template").read_text() == (
        DEPLOY / "env.template"
    ).read_text()
    unit = (tree.units / "kafka-pipeline-xact-download@.service").read_text()
    assert f"ExecStart={venv / 'bin' / 'vpipe-worker'} --name xact-download --instance %i" in unit
    assert f"EnvironmentFile={tree.env_file}" in unit
    assert f"ReadWritePaths={tree.data} {tree.install / 'logs'}" in unit


def check_the_seeded_env_file(tree: Tree) -> None:
    """The seeded .env passes once the operator has chosen the event sources."""
    venv = tree.install / "venv"
    # --local: the test tree is under /tmp, which a deployment's CACHE_DIR must not be.
    command = [str(venv / "bin" / "vpipe"), "config", "check", "--local"]
    command += ["--env-file", str(tree.env_file)]
    clean = {"PATH": os.environ["PATH"], "HOME": str(tree.install)}
    seeded = subprocess.run(command, env=clean, capture_output=True, text=True, check=False)
    assert seeded.returncode == 2, "the seeded .env still needs the event sources"
    assert "XACT_EVENTHOUSE_CLUSTER_URL: required" in seeded.stderr
    with tree.env_file.open("a") as env_file:
        env_file.write("XACT_EVENT_SOURCE=sample\nCLAIMX_EVENT_SOURCE=sample\n")
    filled = subprocess.run(command, env=clean, capture_output=True, text=True, check=False)
    assert filled.returncode == 0, filled.stderr


def test_failed_dependency_installation_fails_and_keeps_the_previous_code(tree: Tree):
    tree.prepare_offline_venv()
    run = tree.run("--pip-args", f"{OFFLINE_PIP} --no-such-pip-option")
    assert run.returncode == 1
    assert "dependency installation failed" in run.stderr
    assert not (tree.install / "app.new").exists()
    assert not (tree.install / "app").exists()
    assert not tree.env_file.exists() and not tree.units.exists()
    assert "systemctl daemon-reload" not in run.calls
