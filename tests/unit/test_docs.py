"""The README stays true: every setting, command and make target it must name, it names."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from userstream.config import Settings

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
#: The reference pages the README links to (docs/*.md), read with it where a name may live in
#: either.
DOCS = README + "".join(p.read_text() for p in sorted((REPO / "docs").glob("*.md")))
CONFIGURATION = (REPO / "docs" / "configuration.md").read_text()


def _env_vars() -> list[str]:
    names = ["USERSTREAM_STATE_DIR"]
    for section, field in Settings.model_fields.items():
        factory = field.default_factory
        if factory is None:
            continue
        model = factory()  # type: ignore[call-arg]
        if isinstance(model, BaseModel):
            names += [
                f"USERSTREAM_{section.upper()}__{key.upper()}" for key in type(model).model_fields
            ]
    return names


def test_every_setting_is_documented_in_the_configuration_table() -> None:
    documented = set(re.findall(r"^\| `(USERSTREAM_[A-Z_]+)` \|", CONFIGURATION, re.MULTILINE))
    assert set(_env_vars()) == documented


def test_quick_start_is_run_and_the_test_commands_and_ci_runs_them_all() -> None:
    quick = README.split("## Quick start", 1)[1].split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in quick.strip().splitlines()[1:]]
    assert commands == ["make run", "make test", "make test-faults", "make test-deploy"]
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert all(command in ci for command in commands[1:])


def test_every_top_level_command_is_in_the_readme() -> None:
    from userstream.cli import _register, app

    _register()
    names = [c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands]
    names += [g.name for g in app.registered_groups if g.name]
    for name in names:
        assert f"userstream {name}" in README, name


def test_make_targets_named_in_the_readme_exist() -> None:
    targets = set(re.findall(r"^([a-z0-9-]+):.*##", (REPO / "Makefile").read_text(), re.MULTILINE))
    for target in set(re.findall(r"make ([a-z0-9-]+)", DOCS)):
        assert target in targets, target


def test_the_readme_is_a_front_door_that_links_every_reference_page() -> None:
    assert len(README.splitlines()) <= 300
    for page in sorted((REPO / "docs").glob("*.md")):
        assert f"](docs/{page.name})" in README, page.name


def test_relative_links_of_the_docs_point_at_files_that_exist() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", page.read_text()):
            if not re.match(r"[a-z]+:", target):
                assert (page.parent / target).exists(), f"{page.name}: {target}"
