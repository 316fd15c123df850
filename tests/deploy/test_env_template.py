"""deploy/env.template lists every variable the code reads, and nothing else."""

from __future__ import annotations

from pathlib import Path

from deploy_facts import DEPLOY, REGENERATE_ENV_TEMPLATE, SHIPPED_PACKAGES

from vpipe_core.config.environment import effective_environment
from vpipe_core.config.guards import settings_problems
from vpipe_core.deploy.catalogue import installed_specs, settings_sections, spec_domains
from vpipe_core.deploy.envtemplate import (
    code_variables,
    render_env_template,
    template_variables,
)

TEMPLATE = DEPLOY / "env.template"


def shipped_template() -> str:
    sections = settings_sections(SHIPPED_PACKAGES)
    return render_env_template(sections, shipped_domains())


def shipped_domains() -> list[str]:
    return spec_domains(installed_specs(packages=SHIPPED_PACKAGES))


def code_names() -> set[str]:
    return code_variables(settings_sections(SHIPPED_PACKAGES), shipped_domains())


def test_template_and_code_read_the_same_variables():
    listed = template_variables(TEMPLATE.read_text())
    missing = sorted(code_names() - set(listed))
    extra = sorted(set(listed) - code_names())
    assert not missing and not extra, (
        f"deploy/env.template and the code's settings disagree: read by the code but not in the "
        f"template: {missing}; in the template but read by no code: {extra}. "
        f"Regenerate the template with: {REGENERATE_ENV_TEMPLATE}"
    )


def test_template_lists_each_variable_once():
    listed = template_variables(TEMPLATE.read_text())
    duplicates = sorted({name for name in listed if listed.count(name) > 1})
    assert not duplicates, f"listed more than once: {duplicates}"


def test_template_is_the_renderer_output():
    """Help texts and defaults too: the template never shows a stale default."""
    assert TEMPLATE.read_text() == shipped_template(), (
        f"deploy/env.template is not what the settings render to (a help text or default "
        f"changed); regenerate it with: {REGENERATE_ENV_TEMPLATE}"
    )


def test_template_as_env_file_passes_config_check(tmp_path: Path):
    """Installed as config/.env (every line commented), it is a valid, all-defaults config."""
    env_file = tmp_path / ".env"
    env_file.write_text(TEMPLATE.read_text())
    env = effective_environment(environ={}, env_file=env_file)
    classes = {section.name: section.cls for section in settings_sections(SHIPPED_PACKAGES)}
    assert settings_problems(classes, env) == []


def test_uncommented_defaults_are_valid_values(tmp_path: Path):
    """Every default the template shows, uncommented, is accepted by the settings classes."""
    lines = [
        line[1:] if line.startswith("#") and "=" in line and line[1:2].isupper() else line
        for line in TEMPLATE.read_text().splitlines()
    ]
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(lines) + "\n")
    env = effective_environment(environ={}, env_file=env_file)
    env = {name: value for name, value in env.items() if value}  # empty = unset
    classes = {section.name: section.cls for section in settings_sections(SHIPPED_PACKAGES)}
    assert settings_problems(classes, env) == []


def test_names_missing_from_either_side_are_reported(tmp_path: Path):
    """The comparison itself: a dropped and an invented variable both show up."""
    text = TEMPLATE.read_text().replace("#LOG_LEVEL=", "#LOG_LEVEL_TYPO=")
    listed = set(template_variables(text))
    assert "LOG_LEVEL" in code_names() - listed
    assert listed - code_names() == {"LOG_LEVEL_TYPO"}
