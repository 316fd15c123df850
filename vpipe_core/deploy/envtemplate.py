"""`deploy/env.template`: every environment variable the code reads, grouped and commented.

Rendered from the settings classes (their `setting()` help texts, forms and defaults) plus the
few variables read outside them, so keeping the template in sync is one command, and a test can
compare the template's names with the code's in both directions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import attrs

from vpipe_core.config.environment import ENV_FILE_VARIABLE
from vpipe_core.config.fields import HELP, MAX, MIN, env_name, is_secret
from vpipe_core.config.forms import split_optional, value_form
from vpipe_core.config.guards import LOADER_VARIABLES
from vpipe_core.config.loader import format_value, settings_fields
from vpipe_core.deploy.catalogue import SettingsSection
from vpipe_core.transfer.netconf import CA_FALLBACKS

RULE = "# " + "=" * 98
PLAIN_STRING = "a string"  # the form of str settings: saying so adds nothing
# A variable line: `NAME=value`, or `#NAME=value` for one left at its default.
VARIABLE_LINE = re.compile(r"^#?(?P<name>[A-Z][A-Z0-9_]*)=")

# Standard variables the HTTP clients read outside the settings classes
# (vpipe_core.transfer.netconf: ProxyConfig.from_env and the CA_BUNDLE fallbacks).
NETWORK_VARIABLES = {
    "HTTPS_PROXY": "proxy for https:// requests (https_proxy works too)",
    "HTTP_PROXY": "proxy for http:// requests (http_proxy works too)",
    "NO_PROXY": "hosts, domains and networks reached without the proxy, comma-separated",
    **{
        name: "CA bundle when CA_BUNDLE is unset (the first one set is used)"
        for name in CA_FALLBACKS
    },
}

HEADER = """\
# vpipe environment: <install dir>/config/.env (owner root, group kafka-pipeline, mode 640).
#
# Rendered by `vpipe deploy env-template` from the settings the installed code reads: every
# variable once, grouped by the settings class that reads it, with its form and default.
# A line starting with `#NAME=` shows the default; remove the `#` and edit the value to change it.
# Check the file with `vpipe config check --env-file <file>` before restarting workers.
#
# systemd reads this file too (EnvironmentFile=); vpipe refuses what systemd would read otherwise:
# - one `NAME=value` per line; comments on their own line (`NAME=x  # note` keeps `# note`);
# - no `export`; a `\\` at the end of a line continues the value on the next line;
# - quote a value with any other `\\`: 'single' is literal, "double" knows \\\\ \\" \\$;
# - `${OTHER}` and `${OTHER:-default}` are expanded by vpipe, quoted or not; a `$` may not be
#   followed by `{` otherwise. Details: docs/DEPLOYMENT.md, "The .env file"."""


def render_env_template(sections: Sequence[SettingsSection], domains: Sequence[str]) -> str:
    """The template text for these settings sections and the retry tiers of `domains`."""
    blocks = [HEADER]
    blocks += [_section_block(section) for section in sections]
    if domains:
        blocks.append(_retry_block(domains))
    blocks.append(_network_block())
    blocks.append(_loader_block())
    return "\n\n".join(blocks) + "\n"


def code_variables(sections: Iterable[SettingsSection], domains: Iterable[str]) -> set[str]:
    """Every variable the code reads: declared settings, per-domain retry delays, the loader's."""
    names = {env_name(field) for section in sections for field in settings_fields(section.cls)}
    names |= {retry_delays_variable(domain) for domain in domains}
    return names | set(NETWORK_VARIABLES) | set(LOADER_VARIABLES)


def template_variables(text: str) -> list[str]:
    """The variable names a template lists (commented or not), in order."""
    return [match["name"] for line in text.splitlines() if (match := VARIABLE_LINE.match(line))]


def retry_delays_variable(domain: str) -> str:
    # vpipe_core.retry.topics.domain_delays reads this name.
    return f"{domain.upper()}_RETRY_DELAYS"


def _section_block(section: SettingsSection) -> str:
    lines = _section_title(f"{section.name}: {_class_summary(section.cls)}")
    for field in settings_fields(section.cls):
        lines += ["", *_field_lines(field)]
    return "\n".join(lines)


def _class_summary(cls: type) -> str:
    doc = (cls.__doc__ or "").strip()
    if doc and not doc.startswith(f"{cls.__name__}("):  # attrs' generated signature is no summary
        return doc.splitlines()[0].rstrip(".")
    return f"read by {cls.__module__}.{cls.__qualname__}"


def _field_lines(field: attrs.Attribute) -> list[str]:
    annotation, optional = split_optional(field.type)
    form = value_form(annotation, field.metadata.get(MIN), field.metadata.get(MAX)).description
    notes = [str(field.metadata.get(HELP, "")).strip()]
    if form != PLAIN_STRING:
        notes.append(form)
    if optional:
        notes.append("empty means unset")
    if is_secret(field):
        notes.append("secret")
    required = field.default is attrs.NOTHING
    if required:
        notes.append("REQUIRED")
    comment = "# " + "; ".join(note for note in notes if note)
    return [comment, f"{'' if required else '#'}{env_name(field)}={_default_text(field)}"]


def _default_text(field: attrs.Attribute) -> str:
    default = field.default
    if default is attrs.NOTHING or default is None or is_secret(field):
        return ""
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        default = default.factory()
    return format_value(default)


def _retry_block(domains: Sequence[str]) -> str:
    lines = _section_title("retry tiers per domain: read by the retry module")
    for domain in domains:
        lines += [
            "",
            f"# retry tier delays of the {domain} domain in seconds, e.g. 300,600,1800 "
            f"(default: RETRY_DELAYS)",
            f"#{retry_delays_variable(domain)}=",
        ]
    return "\n".join(lines)


def _network_block() -> str:
    lines = _section_title("network: standard variables read by the vpipe HTTP clients")
    for name, help_text in NETWORK_VARIABLES.items():
        lines += ["", f"# {help_text}", f"#{name}="]
    return "\n".join(lines)


def _loader_block() -> str:
    lines = _section_title("loader: which file is read")
    lines += [
        "",
        "# this file's path; the units set it (Environment=), it has no effect inside the file",
        f"#{ENV_FILE_VARIABLE}=/opt/kafka-pipeline/config/.env",
    ]
    return "\n".join(lines)


def _section_title(title: str) -> list[str]:
    return [RULE, f"# {title}", RULE]
