"""`vpipe deploy ...`: deployment files rendered from what is installed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

package_option = click.option(
    "--package",
    "packages",
    multiple=True,
    help="Only what this distribution registers, e.g. vpipe-acme (repeatable; default: "
    "everything installed). vpipe-core's own settings are always included.",
)
check_option = click.option(
    "--check", is_flag=True, help="Change nothing; exit 1 if the target differs from the output."
)


@click.group("deploy")
def deploy_group() -> None:
    """Render systemd units, the env template, the port table and the constraints."""


@deploy_group.command("units")
@click.option(
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write the units here (pruning units it rendered before); default: print them.",
)
@click.option("--install-dir", default="/opt/kafka-pipeline", show_default=True)
@click.option("--data-dir", default="/var/lib/kafka-pipeline", show_default=True)
@click.option("--user", default="kafka-pipeline", show_default=True)
@click.option("--group", default=None, help="Service group (default: the user).")
@click.option(
    "--static-membership",
    "static_session_ms",
    type=click.IntRange(1000),
    default=None,
    metavar="SESSION_TIMEOUT_MS",
    help="Units for KAFKA_STATIC_MEMBERSHIP=true: a crashed instance restarts only after this "
    "session timeout (KAFKA_SESSION_TIMEOUT_MS, or the broker's "
    "group.consumer.session.timeout.ms under KAFKA_GROUP_PROTOCOL=consumer; 45000 by default).",
)
@package_option
@check_option
def units_cmd(
    output: Path | None,
    install_dir: str,
    data_dir: str,
    user: str,
    group: str | None,
    static_session_ms: int | None,
    packages: tuple[str, ...],
    check: bool,
) -> None:
    """One unit per installed worker: `kafka-pipeline-<worker>@.service` templates for
    multi-instance workers, `kafka-pipeline-<worker>.service` for the others."""
    from vpipe_core.deploy.catalogue import installed_specs
    from vpipe_core.deploy.units import Layout, compare_units, render_units, write_units

    static_session_s = -(-static_session_ms // 1000) if static_session_ms else None
    layout = Layout(install_dir, data_dir, user, group or user, static_session_s)
    units = render_units(_or_exit(lambda: installed_specs(packages=packages)), layout)
    if output is None:
        _require_output(check, "--output")
        click.echo("\n".join(f"### {name}\n{text}" for name, text in units.items()), nl=False)
        return
    if check:
        diff = compare_units(output, units)
        _check_result(
            [
                *(f"missing: {output / name}" for name in diff.missing),
                *(f"differs: {output / name}" for name in diff.changed),
                *(f"stale: {output / name}" for name in diff.stale),
            ]
        )
        click.echo(f"{len(units)} units in {output} are up to date")
        return
    diff = write_units(output, units)
    changes = (("wrote", diff.missing), ("updated", diff.changed), ("removed", diff.stale))
    for verb, names in changes:
        for name in names:
            click.echo(f"{verb}: {output / name}")
    click.echo(f"{len(units)} units in {output}")


@deploy_group.command("env-template")
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the template to this file; default: print it.",
)
@package_option
@check_option
def env_template_cmd(output: Path | None, packages: tuple[str, ...], check: bool) -> None:
    """Every variable the installed code reads, grouped by settings class, with help and default."""
    text = _or_exit(lambda: _env_template(packages))
    if output is None:
        _require_output(check, "--output")
        click.echo(text, nl=False)
        return
    _write_or_check(output, text, check)


@deploy_group.command("port-table")
@click.option(
    "--document",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Replace the port table between its markers in this Markdown file; default: print it.",
)
@package_option
@check_option
def port_table_cmd(document: Path | None, packages: tuple[str, ...], check: bool) -> None:
    """The metrics port table (worker, ports, unit, resources) for docs/DEPLOYMENT.md."""
    from vpipe_core.deploy.catalogue import installed_specs
    from vpipe_core.deploy.porttable import embedded_port_table, render_port_table

    table = render_port_table(_or_exit(lambda: installed_specs(packages=packages)))
    if document is None:
        _require_output(check, "--document")
        click.echo(table)
        return
    text = document.read_text()
    current = embedded_port_table(text)
    if current is None:
        _fail([f"{document} has no port table markers; paste the output of this command once"])
    _write_or_check(document, text.replace(current, table), check)


@deploy_group.command("constraints")
@click.option(
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the constraints to this file; default: print them.",
)
@package_option
@check_option
def constraints_cmd(output: Path | None, packages: tuple[str, ...], check: bool) -> None:
    """Pins of every dependency of vpipe-core and the domain packages, as installed here."""
    from vpipe_core.deploy.lock import (
        LockError,
        package_roots,
        pinned_dependencies,
        render_constraints,
    )

    try:
        pins = pinned_dependencies(package_roots(packages))
    except LockError as exc:
        _fail([str(exc)])
    text = render_constraints(pins)
    if output is None:
        _require_output(check, "--output")
        click.echo(text, nl=False)
        return
    _write_or_check(output, text, check)


def _env_template(packages: Sequence[str]) -> str:
    from vpipe_core.deploy.catalogue import installed_specs, settings_sections, spec_domains
    from vpipe_core.deploy.envtemplate import render_env_template

    sections = settings_sections(packages)
    return render_env_template(sections, spec_domains(installed_specs(packages=packages)))


def _write_or_check(path: Path, text: str, check: bool) -> None:
    current = path.read_text() if path.exists() else None
    if check:
        _check_result([] if current == text else [f"differs: {path}"])
        click.echo(f"{path} is up to date")
        return
    if current != text:
        path.write_text(text)
    click.echo(f"{'unchanged' if current == text else 'wrote'}: {path}")


def _check_result(problems: Sequence[str]) -> None:
    if problems:
        _fail([*problems, "run the same command without --check to update"])


def _require_output(check: bool, option: str) -> None:
    if check:
        _fail([f"--check needs {option}"])


def _or_exit(make: Callable[[], Any]) -> Any:
    from vpipe_core.deploy.catalogue import CatalogueError

    try:
        return make()
    except CatalogueError as exc:
        _fail([str(exc)])


def _fail(lines: Sequence[str]) -> NoReturn:
    for line in lines:
        click.echo(line, err=True)
    raise click.exceptions.Exit(1)
