"""deploy/install.sh: `--dry-run` prints every action and changes nothing; a real run into a temp
root builds the documented layout; a second run updates the code and keeps config, logs, cache and
state; root owns the code and the configuration, the service account only its logs, cache and
state, and a re-install repairs owners and modes. Account management and systemctl are fakes (this
may run as root: nothing may touch the host); chown logs its calls and, as root, really changes the
owner, with the service account played by an unused id. pip really installs the checkout, offline,
into the temp venv."""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_facts import DEPLOY, REPO
from fakes import FakeSystem, logging_command, write_command

SCRIPT = DEPLOY / "install.sh"
OFFLINE_PIP = "--no-deps --no-index --no-build-isolation"
USER = "kafka-pipeline"
# getent knows nobody, so the script creates the account (with the fake groupadd/useradd).
GETENT = '#!/usr/bin/env bash\nprintf \'getent %s\\n\' "$*" >> "$FAKE_CALLS"\nexit 2\n'
# The service account's uid and gid in chown's real calls: no account on the host has it.
SERVICE_ID = 64123
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="only root can give files away")
CHOWN = f"""#!/usr/bin/env bash
printf 'chown %s\\n' "$*" >> "$FAKE_CALLS"
[[ $EUID -eq 0 ]] || exit 0
args=()
for arg in "$@"; do
    if [[ "$arg" == *:* && "$arg" != /* ]]; then
        arg="${{arg//{USER}/{SERVICE_ID}}}"
        arg="${{arg//root/0}}"
    fi
    args+=("$arg")
done
exec /usr/bin/chown "${{args[@]}}"
"""


def python_command() -> str:
    """install.sh's --python: `-m venv DIR` makes a venv that sees this interpreter's packages
    (pip, setuptools, the dependencies) behind its own site-packages, so that
    `pip install --no-deps --no-index` of the checkout works offline."""
    purelib = sysconfig.get_paths()["purelib"]
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    pth = shlex.quote(f"import site; site.addsitedir({purelib!r})")
    python = shlex.quote(sys.executable)
    return f"""#!/usr/bin/env bash
if [[ "$1 $2" == "-m venv" ]]; then
    {python} -m venv --without-pip "${{@:3}}" || exit
    printf '%s\\n' {pth} > "${{@: -1}}/lib/{version}/site-packages/_test_parent.pth"
else
    exec {python} "$@"
fi
"""


class Tree:
    """A temp root: where install.sh puts things, and the fakes it runs with."""

    def __init__(self, root: Path) -> None:
        self.system = FakeSystem(root / "fakes")
        for name in ("groupadd", "useradd"):
            logging_command(self.system.bin, name)
        write_command(self.system.bin, "getent", GETENT)
        write_command(self.system.bin, "chown", CHOWN)
        self.python = write_command(self.system.bin, "python3.11", python_command())
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
            "--python",
            str(self.python),
            *extra,
        ]
        return self.system.run(SCRIPT, *args, VPIPE_INSTALL_STAGING="1")

    def install_offline(self):
        run = self.run("--pip-args", OFFLINE_PIP)
        assert run.returncode == 0, run.stdout + run.stderr
        return run

    @property
    def venv(self) -> Path:
        return self.install / "venv"

    def site_packages(self) -> Path:
        return next((self.venv / "lib").glob("python3.*")) / "site-packages"


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
    readers, service = f"root:{USER}", f"{USER}:{USER}"
    chmod = r"\! -type l -exec chmod u=rwX\,g=rX\,o= \{\} +"  # quoted to be pasted into a shell
    config, logs = tree.install / "config", tree.install / "logs"
    work = f"{logs} {tree.data / 'cache'} {tree.data / 'state'}"
    for expected in [
        f"+ install -d -m 755 {tree.install}\n+ chown root:root {tree.install}\n",
        f"+ install -d -m 750 {tree.data}\n+ chown {readers} {tree.data}\n",
        f"+ install -d -m 750 {config / 'plugins'}\n+ chown -R {readers} {config}\n"
        f"+ find {config} {chmod}\n",
        f"+ install -d -m 750 {work}\n+ chown -R {service} {work}\n+ find {work} {chmod}\n",
    ]:
        assert expected in out
    app_new = tree.install / "app.new"
    assert f"+ chown -R root:root {app_new}\n" in out
    assert f"-m venv {tree.venv}\n" in out
    assert f"+ build the wheels of {REPO} into {app_new / 'wheels'}\n" in out
    constraints = REPO / "deploy" / "constraints.txt"
    assert f"-m pip install --constraint {constraints} {app_new / 'wheels'}/vpipe\\*.whl\n" in out
    assert f"--no-deps --no-index --force-reinstall {app_new / 'wheels'}/vpipe\\*.whl\n" in out
    assert f"+ write {tree.env_file} from deploy/env.template (mode 640)" in out
    assert f"+ chown {readers} {tree.env_file}\n" in out
    assert (
        f"+ {tree.install / 'venv' / 'bin' / 'vpipe'} deploy units --output {tree.units} "
        f"--install-dir {tree.install} --data-dir {tree.data} --user {USER} --group {USER}"
    ) in out
    assert f"+ chown -R root:root {tree.venv}\n" in out
    assert "+ systemctl daemon-reload" in out


def test_dry_run_from_wheels_installs_offline_from_the_wheelhouse(tree: Tree, tmp_path: Path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name in ("vpipe_core-0.1.0-py3-none-any.whl", "vpipe_xact-0.1.0-py3-none-any.whl"):
        (wheels / name).write_text("")
    run = tree.run("--dry-run", "--wheels", str(wheels))
    assert run.returncode == 0, run.stderr
    assert f"--no-index --find-links {wheels} --constraint" in run.stdout
    assert f"+ cp {wheels / 'vpipe_core-0.1.0-py3-none-any.whl'} " in run.stdout
    assert "+ build the wheels" not in run.stdout


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
    first = tree.install_offline()
    check_layout(tree)
    assert f"groupadd --system {USER}" in first.calls
    assert any(call.startswith(f"useradd --system --gid {USER} ") for call in first.calls)
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
    (tree.units / "kafka-pipeline-xact-poller@.service").unlink()

    second = tree.install_offline()
    assert f"keeping {tree.env_file}" in second.stdout
    assert tree.env_file.read_text().endswith("LOG_LEVEL=DEBUG\n")
    assert mode(tree.env_file) == 0o640
    for path, text in kept.items():
        assert path.read_text() == text, f"{path} was not kept"
    assert not (tree.install / "app" / "left-over-from-an-old-release.py").exists()
    assert (tree.units / "kafka-pipeline-xact-poller@.service").exists()
    check_layout(tree)


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
    assert (app / "deploy" / "manage-workers.sh").exists()
    wheels = sorted(path.name.split("-")[0] for path in (app / "wheels").glob("*.whl"))
    assert wheels == ["vpipe_claimx", "vpipe_core", "vpipe_xact"]
    assert not (tree.install / "app.new").exists()
    venv = tree.install / "venv"
    for path in [*app.rglob("*"), *venv.rglob("*")]:
        assert path.is_symlink() or not mode(path) & 0o022, f"{path} writable by group or others"
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
    run = tree.run("--pip-args", f"{OFFLINE_PIP} --no-such-pip-option")
    assert run.returncode == 1
    assert "building the vpipe wheels failed" in run.stderr
    assert not (tree.install / "app.new").exists()
    assert not (tree.install / "app").exists()
    assert not tree.env_file.exists() and not tree.units.exists()
    assert "systemctl daemon-reload" not in run.calls


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    tree = Tree(tmp_path_factory.mktemp("installed"))
    tree.install_offline()
    return tree


def owner_and_mode(path: Path) -> tuple[int, int, int]:
    info = path.lstat()
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def code_and_config(tree: Tree) -> Iterator[Path]:
    """Every path root runs or reads as configuration, and the two directories holding them."""
    yield tree.install
    yield tree.data
    for top in (tree.install / "app", tree.venv, tree.install / "config"):
        yield top
        for directory, dirs, files in os.walk(top):  # not into links to directories
            yield from (Path(directory, name) for name in dirs + files)


def not_roots_alone(path: Path) -> bool:
    """Not root's, or writable by the service group or by anyone (a link has no mode of its own)."""
    info = path.lstat()
    if info.st_uid != 0:
        return True
    if stat.S_ISLNK(info.st_mode):
        return False
    group_writes = info.st_gid == SERVICE_ID and info.st_mode & stat.S_IWGRP
    return bool(group_writes or info.st_mode & stat.S_IWOTH)


@root_only
def test_root_owns_code_and_config_and_the_service_account_its_logs_cache_and_state(
    installed: Tree,
):
    tree, config = installed, installed.install / "config"
    expected = {
        tree.install: (0, 0, 0o755),
        tree.install / "app": (0, 0, 0o755),
        tree.install / "app" / "deploy" / "env.template": (0, 0, 0o644),
        tree.install / "app" / "deploy" / "install.sh": (0, 0, 0o755),
        tree.venv: (0, 0, 0o755),
        tree.venv / "bin" / "vpipe": (0, 0, 0o755),
        tree.site_packages() / "vpipe_core" / "__init__.py": (0, 0, 0o644),
        config: (0, SERVICE_ID, 0o750),
        config / "plugins": (0, SERVICE_ID, 0o750),
        tree.env_file: (0, SERVICE_ID, 0o640),
        config / "env.template": (0, SERVICE_ID, 0o640),
        tree.install / "logs": (SERVICE_ID, SERVICE_ID, 0o750),
        tree.data: (0, SERVICE_ID, 0o750),
        tree.data / "cache": (SERVICE_ID, SERVICE_ID, 0o750),
        tree.data / "state": (SERVICE_ID, SERVICE_ID, 0o750),
    }
    assert {path: owner_and_mode(path) for path in expected} == expected


@root_only
def test_the_service_account_owns_and_can_write_no_code_and_no_config(installed: Tree):
    assert [path for path in code_and_config(installed) if not_roots_alone(path)] == []


@root_only
def test_a_reinstall_gives_code_and_config_back_to_root(tree: Tree):
    """As after an install where the service account owned everything, or a later chown."""
    tree.install_offline()
    plugin = tree.install / "config" / "plugins" / "trigger.toml"
    plugin.write_text("plugin config")
    module = tree.site_packages() / "vpipe_core" / "__init__.py"
    module.write_text(module.read_text() + "TAMPERED = True\n")
    for path, path_mode in [
        (tree.install, 0o755),
        (tree.install / "config", 0o777),
        (plugin, 0o666),
        (tree.env_file, 0o600),
        (module, 0o666),
        (tree.install / "app" / "deploy" / "env.template", 0o666),
    ]:
        os.chown(path, SERVICE_ID, SERVICE_ID)
        path.chmod(path_mode)
    os.chown(tree.data / "state", 0, 0)

    second = tree.install_offline()
    assert f"rebuilding {tree.venv}: root runs it, but {module} is not root's" in second.stdout
    assert "TAMPERED" not in module.read_text(), "a venv the service account could write is reused"
    assert [path for path in code_and_config(tree) if not_roots_alone(path)] == []
    assert owner_and_mode(plugin) == (0, SERVICE_ID, 0o640)
    assert plugin.read_text() == "plugin config"
    assert owner_and_mode(tree.env_file) == (0, SERVICE_ID, 0o640)
    assert owner_and_mode(tree.data / "state") == (SERVICE_ID, SERVICE_ID, 0o750)


def test_a_link_where_root_would_chown_or_replace_is_refused(tree: Tree, tmp_path: Path):
    (tree.install / "config").mkdir(parents=True)
    (tree.install / "config" / ".env").symlink_to(tmp_path / "elsewhere")
    run = tree.run("--dry-run")
    assert run.returncode == 1
    assert f"{tree.env_file} is a symbolic link" in run.stderr


SHIPPED_TREES = (
    "pyproject.toml",
    "README.md",
    "vpipe_core",
    "plugins/vpipe_xact",
    "plugins/vpipe_claimx",
)


def git(repo: Path, *args: str) -> None:
    identity = ["-c", "user.name=vpipe tests", "-c", "user.email=tests@vpipe.invalid"]
    subprocess.run(["git", "-C", str(repo), *identity, *args], check=True, capture_output=True)


def build_wheelhouse(repo: Path, wheels: Path) -> dict[str, str]:
    """The three vpipe wheels of the repository's HEAD; their versions by distribution name."""
    sources = [
        str(repo),
        str(repo / "plugins" / "vpipe_xact"),
        str(repo / "plugins" / "vpipe_claimx"),
    ]
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*command, "--wheel-dir", str(wheels), *sources], check=True, capture_output=True
    )
    names = (wheel.name.split("-") for wheel in wheels.glob("vpipe*.whl"))
    return {name.replace("_", "-"): version for name, version, *_ in names}


@pytest.fixture(scope="module")
def two_commits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str, str]:
    """Wheelhouses of two successive commits of a copy of this checkout (the second adds a mark)."""
    root = tmp_path_factory.mktemp("history")
    repo = root / "repo"
    for item in SHIPPED_TREES:
        source, target = REPO / item, repo / item
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
            shutil.copytree(source, target, ignore=ignore)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    git(repo, "init", "--quiet")
    git(repo, "add", ".")
    git(repo, "commit", "--quiet", "-m", "first")
    first = build_wheelhouse(repo, root / "first")
    with (repo / "vpipe_core" / "__init__.py").open("a") as module:
        module.write('\nUPGRADE_MARK = "second commit"\n')
    git(repo, "commit", "--quiet", "-am", "second")
    second = build_wheelhouse(repo, root / "second")
    assert set(first) == set(second) == {"vpipe-core", "vpipe-xact", "vpipe-claimx"}
    assert len({*first.values()}) == 1 and first != second, "each commit has its own version"
    return root / "first", root / "second", first["vpipe-core"], second["vpipe-core"]


def running_code(tree: Tree) -> tuple[str, str]:
    """`vpipe --version`'s vpipe-core line, and the marker the second commit added, if any."""
    python = str(tree.venv / "bin" / "python")
    mark = "import vpipe_core; print(getattr(vpipe_core.__dict__, 'get')('UPGRADE_MARK'))"
    version = subprocess.run(
        [str(tree.venv / "bin" / "vpipe"), "--version"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]
    marker = subprocess.run([python, "-I", "-c", mark], capture_output=True, text=True, check=True)
    return version, marker.stdout.strip()


def test_wheels_of_the_next_commit_upgrade_and_an_older_version_needs_a_flag(
    tree: Tree, two_commits: tuple[Path, Path, str, str]
):
    first, second, old, new = two_commits
    installed = tree.run("--wheels", str(first), "--pip-args", OFFLINE_PIP)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert f"vpipe-core: {old} (new)\n" in installed.stdout
    assert running_code(tree) == (f"vpipe-core {old}", "None")

    upgraded = tree.run("--wheels", str(second), "--pip-args", OFFLINE_PIP)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    for name in ("vpipe-core", "vpipe-xact", "vpipe-claimx"):
        assert f"{name}: {old} -> {new}\n" in upgraded.stdout
    assert running_code(tree) == (f"vpipe-core {new}", "second commit")
    assert sorted(path.name for path in (tree.install / "app" / "wheels").iterdir()) == sorted(
        path.name for path in second.glob("vpipe*.whl")
    )

    refused = tree.run("--wheels", str(first), "--pip-args", OFFLINE_PIP)
    assert refused.returncode == 1
    assert f"vpipe-core: {new} -> {old}\n" in refused.stdout
    assert "--allow-downgrade" in refused.stderr
    assert running_code(tree) == (f"vpipe-core {new}", "second commit")

    downgraded = tree.run("--wheels", str(first), "--allow-downgrade", "--pip-args", OFFLINE_PIP)
    assert downgraded.returncode == 0, downgraded.stdout + downgraded.stderr
    assert running_code(tree) == (f"vpipe-core {old}", "None")


def test_a_copy_without_git_history_is_refused_it_would_have_no_version(tree: Tree, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(DEPLOY, copy / "deploy")
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    (copy / "vpipe_core").mkdir()
    run = tree.system.run(copy / "deploy" / "install.sh", "--dry-run", VPIPE_INSTALL_STAGING="1")
    assert run.returncode == 1
    assert f"cannot tell which version {copy} is: it is not a git checkout" in run.stderr
