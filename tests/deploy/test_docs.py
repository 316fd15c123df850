"""docs/DEPLOYMENT.md stays true: its port table is `vpipe ports`, and it documents every option
and command the deploy scripts accept and every directory install.sh creates."""

from __future__ import annotations

import re
import subprocess

from click.testing import CliRunner
from deploy_facts import DEPLOY, REGENERATE_PORT_TABLE, REPO, SHIPPED_PACKAGES

from vpipe_core.cli.main import main
from vpipe_core.deploy.catalogue import installed_specs
from vpipe_core.deploy.porttable import embedded_port_table, render_port_table

GUIDE = REPO / "docs" / "DEPLOYMENT.md"


def guide() -> str:
    return GUIDE.read_text()


def documented_ports() -> dict[str, tuple[str, str]]:
    """worker → (max instances, metrics ports) from the guide's port table."""
    table = embedded_port_table(guide())
    assert table is not None, "docs/DEPLOYMENT.md lost its port table markers"
    rows = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) > 3 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = (cells[2], cells[3])
    return rows


def vpipe_ports() -> dict[str, tuple[str, str]]:
    """worker → (instances, ports) as `vpipe ports` prints them, for the shipped packages."""
    shipped = {spec.name for spec in installed_specs(packages=SHIPPED_PACKAGES)}
    output = CliRunner().invoke(main, ["ports"]).output
    rows = {}
    for line in output.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 4 and fields[0] in shipped:
            rows[fields[0]] = (fields[2], fields[3])
    return rows


def test_port_table_is_what_vpipe_ports_prints():
    assert documented_ports() == vpipe_ports(), (
        f"the port table in docs/DEPLOYMENT.md differs from `vpipe ports`; "
        f"regenerate it with: {REGENERATE_PORT_TABLE}"
    )


def test_port_table_is_the_renderer_output():
    expected = render_port_table(installed_specs(packages=SHIPPED_PACKAGES))
    assert embedded_port_table(guide()) == expected, f"regenerate with: {REGENERATE_PORT_TABLE}"


def script_help(name: str) -> str:
    result = subprocess.run(
        ["bash", str(DEPLOY / name), "--help"], capture_output=True, text=True, check=True
    )
    return result.stdout


def test_every_install_option_is_documented():
    options = set(re.findall(r"^\s+(--[a-z-]+)", script_help("install.sh"), re.MULTILINE))
    assert {"--install-dir", "--user", "--dry-run", "--wheels"} <= options
    missing = sorted(option for option in options - {"--help"} if f"`{option}" not in guide())
    assert not missing, f"install.sh options missing from docs/DEPLOYMENT.md: {missing}"


def usage_commands(name: str) -> set[str]:
    commands = re.search(r"Commands:\n(.*?)\n\n", script_help(name), re.DOTALL)
    assert commands is not None
    return set(re.findall(r"^  ([a-z]+)\b", commands.group(1), re.MULTILINE)) - {"help"}


def test_every_manage_workers_command_is_documented():
    commands = usage_commands("manage-workers.sh")
    assert {"status", "start", "stop", "restart", "enable", "logs", "pid"} <= commands
    missing = sorted(command for command in commands if f"| `{command}" not in guide())
    assert not missing, f"manage-workers.sh commands missing from the guide: {missing}"


def test_every_setup_kafka_command_is_documented():
    commands = usage_commands("setup-kafka.sh")
    assert {"install", "start", "stop", "restart", "status", "logs", "topics"} <= commands
    missing = sorted(
        command
        for command in commands
        if f"setup-kafka.sh {command}" not in guide() and f"`{command}`" not in guide()
    )
    assert not missing, f"setup-kafka.sh commands missing from the guide: {missing}"


def test_every_directory_install_creates_is_in_the_layout_table():
    dry_run = subprocess.run(
        ["bash", str(DEPLOY / "install.sh"), "--dry-run"], capture_output=True, text=True
    )
    assert dry_run.returncode == 0, dry_run.stderr
    lines = re.findall(r"^\+ install -d -m \d+ (.+)$", dry_run.stdout, re.MULTILINE)
    created = [path for line in lines for path in line.split()]
    assert created, dry_run.stdout
    layout = guide().split("## 2. Layout", 1)[1].split("\n## ", 1)[0]
    missing = [path for path in created if f"`{path}" not in layout]
    assert not missing, f"created by install.sh but not in the layout table: {missing}"


def markdown_tables(text: str) -> list[list[str]]:
    """Each run of consecutive table lines (a blank line ends a table when rendered)."""
    tables: list[list[str]] = []
    previous_was_row = False
    for line in text.splitlines():
        is_row = line.startswith("|")
        if is_row and not previous_was_row:
            tables.append([])
        if is_row:
            tables[-1].append(line)
        previous_was_row = is_row
    return tables


def test_the_readme_lists_every_shipped_worker_in_one_table():
    shipped = {spec.name for spec in installed_specs(packages=SHIPPED_PACKAGES)}
    readme = (REPO / "README.md").read_text()
    holding = [t for t in markdown_tables(readme) if any(f"`{w}`" in "".join(t) for w in shipped)]
    assert len(holding) == 1, "the worker table is split (a blank line inside it?)"
    (table,) = holding
    assert table[1].startswith("|---"), "a table needs its header and separator lines"
    missing = {w for w in shipped if f"| `{w}` |" not in "\n".join(table)}
    assert not missing, f"README worker table lacks {sorted(missing)}"
