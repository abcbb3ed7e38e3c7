"""The README and the manual in docs/ stay true: every command has an example in both, every
option is documented in the manual, the generated pages are current, links resolve, and the
``meterlog usage`` examples run against a small store."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import click
import polars as pl
import pytest
from click.testing import CliRunner

from meterlog.cli import main
from meterlog.config import load_config
from meterlog.query.filters import DEFAULT_BOT_PATTERNS
from tests.support import REPO
from tests.support.usage import ACCOUNTS_CSV, build_store, requests_frame
from tests.test_endpoints import OPENAPI_YAML

README = REPO / "README.md"
DOCS = REPO / "docs"
#: Pages of docs/ generated from the code by ``make docs`` (each checked below to be current).
GENERATED_PAGES = ("cli-reference.md", "detectors.md", "plan-keys.md", "config-keys.md")
#: Pages linked from the manual that are not there yet (none).
PENDING_PAGES: tuple[str, ...] = ()
#: The README introduces; the manual explains.
README_MAX_LINES = 400
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def readme() -> str:
    return README.read_text(encoding="utf-8")


def manual_pages() -> list[Path]:
    """The hand-written pages of the manual (docs/*.md but the generated ones), by name."""
    return sorted(page for page in DOCS.glob("*.md") if page.name not in GENERATED_PAGES)


def example_pages() -> list[Path]:
    """The pages whose ``sh`` examples run as written: the README, then the manual."""
    return [README, *manual_pages()]


def section_text(text: str, section: str) -> str:
    """``text`` from the heading ``section`` to the next heading of the same or a higher level
    (headings inside fenced blocks are not headings)."""
    level = len(section) - len(section.lstrip("#"))
    start = text.index(section)
    offset = start + len(section)
    fenced = False
    for line in text[offset:].splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(rf"#{{1,{level}}} ", line):
            return text[start:offset]
        offset += len(line)
    return text[start:]


def code_blocks(language: str, section: str | None = None, page: Path = README) -> list[str]:
    """Fenced blocks of ``language`` in ``page``; with ``section`` (a heading line such as
    ``"## Quick start"``), only those under that heading."""
    text = page.read_text(encoding="utf-8")
    if section is not None:
        text = section_text(text, section)
    return [body for lang, body in FENCE.findall(text) if lang == language]


def example_commands(command: str, pages: list[Path] | None = None) -> list[list[str]]:
    """``meterlog COMMAND ...`` lines of the shell blocks of ``pages`` (default: the README and
    the manual), as argument lists after ``meterlog`` (continuation lines joined, anything from
    a pipe or redirection on dropped)."""
    examples = []
    blocks = [
        block
        for page in (example_pages() if pages is None else pages)
        for block in code_blocks("sh", page=page)
    ]
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.shlex(line, posix=True, punctuation_chars="|><;&")
            words.whitespace_split = True
            words.commenters = "#"
            tokens = list(words)
            if tokens[:2] != ["meterlog", command]:
                continue
            cut = next((i for i, t in enumerate(tokens) if t and t[0] in "|><;&"), len(tokens))
            examples.append(tokens[1:cut])
    return examples


def documented_commands() -> list[tuple[str, click.Command]]:
    context = click.Context(main)
    commands = [(name, main.get_command(context, name)) for name in main.list_commands(context)]
    return sorted((name, command) for name, command in commands if command is not None)


@pytest.mark.parametrize(("name", "command"), documented_commands())
def test_every_command_has_a_readme_example(name: str, command: click.Command) -> None:
    assert f"meterlog {name}" in readme(), f"README does not mention 'meterlog {name}'"
    assert example_commands(name, [README]), (
        f"README has no example of 'meterlog {name}' in a sh block"
    )


@pytest.mark.parametrize(("name", "command"), documented_commands())
def test_every_command_has_an_example_in_the_manual(name: str, command: click.Command) -> None:
    assert example_commands(name, manual_pages()), (
        f"no page of docs/ has an example of 'meterlog {name}' in a sh block"
    )


@pytest.mark.parametrize(("name", "command"), documented_commands())
def test_every_option_is_in_the_manual(name: str, command: click.Command) -> None:
    """Every option is explained where its command is: on the hand-written pages of docs/ that
    have an example of the command (the generated CLI reference holds every option by
    construction, so it does not count)."""
    pages = [page for page in manual_pages() if example_commands(name, [page])]
    text = "\n".join(page.read_text(encoding="utf-8") for page in pages)
    missing = [
        option
        for parameter in command.params
        if isinstance(parameter, click.Option)
        for option in parameter.opts
        if option.startswith("--") and not re.search(rf"(?<![\w-]){option}(?![\w-])", text)
    ]
    assert not missing, (
        f"options of 'meterlog {name}' missing from its pages {[p.name for p in pages]}: {missing}"
    )


@pytest.mark.parametrize(("name", "command"), documented_commands())
def test_every_command_help_has_an_example(name: str, command: click.Command) -> None:
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0
    assert f"meterlog {name}" in result.output


def test_bot_list_in_the_manual_is_the_built_in_one() -> None:
    section = section_text((DOCS / "reports.md").read_text(encoding="utf-8"), "### Bots")
    listed = re.findall(r"`([^`]+)`", section.split("any of:", 1)[1].split(".", 1)[0])
    assert tuple(listed) == DEFAULT_BOT_PATTERNS


@pytest.fixture(scope="module")
def docs_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder with a store and the files the examples of the README and docs/ name."""
    folder = tmp_path_factory.mktemp("docs")
    # the README's examples name a user of the bundled sample logs
    events = requests_frame().with_columns(
        pl.col("remote_user").replace({"ann": "u_58138"}),
        http_x_user_id=pl.col("remote_user"),
    )
    build_store(folder / "store", events)
    (folder / "accounts.csv").write_text(ACCOUNTS_CSV)
    (folder / "openapi.yaml").write_text(OPENAPI_YAML.replace("/v1", ""))
    (folder / "sample_logs").mkdir()  # the README's examples name the bundled sample files
    shutil.copy(REPO / "sample_logs" / "openapi.yaml", folder / "sample_logs")
    (folder / "sample_logs" / "accounts.csv").write_text(ACCOUNTS_CSV)  # named by the quick start
    return folder


def with_test_store(arguments: list[str], store: Path) -> list[str]:
    """``arguments`` with any ``--store`` value replaced by ``store``."""
    replaced = list(arguments)
    for index, value in enumerate(replaced[:-1]):
        if value == "--store":
            replaced[index + 1] = str(store)
    return replaced


@pytest.mark.parametrize("arguments", example_commands("usage"), ids=" ".join)
def test_readme_usage_examples_run(
    arguments: list[str], docs_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(docs_folder)
    store = docs_folder / "store"
    result = CliRunner().invoke(
        main,
        with_test_store(arguments, store),
        env={"METERLOG_STORE": str(store), "METERLOG_CONFIG": None},
    )
    assert result.exit_code == 0, result.stderr or result.output
    assert "error" not in result.stderr
    assert "no requests" not in result.stderr, "the example should show rows on the test store"
    output_file = next(
        (arguments[i + 1] for i, a in enumerate(arguments[:-1]) if a in ("-o", "--output")), None
    )
    if output_file:
        assert (docs_folder / output_file).stat().st_size > 0
    else:
        assert "requests" in result.stdout


def test_config_example_is_valid(docs_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (example,) = code_blocks("toml", page=DOCS / "configuration.md")
    store = docs_folder / "store"
    config = re.sub(r'^store = ".*"', f'store = "{store}"', example, flags=re.MULTILINE)
    (docs_folder / "meterlog.toml").write_text(config)
    monkeypatch.chdir(docs_folder)
    loaded = load_config(None)
    assert loaded.store == str(store)
    assert loaded.routes == ("/v1/users/{user_id}/orders", "/v1/users/me")
    no_env: dict[str, str | None] = {"METERLOG_STORE": None, "METERLOG_CONFIG": None}
    result = CliRunner().invoke(main, ["usage", "--by", "account", "--by", "endpoint"], env=no_env)
    (docs_folder / "meterlog.toml").unlink()
    assert result.exit_code == 0, result.stderr
    assert "acme,/v1/users/{user_id}/orders," in result.stdout


def test_accounts_example_is_valid(tmp_path: Path) -> None:
    from meterlog.query.identity import load_accounts_file

    (example,) = code_blocks("csv", page=DOCS / "configuration.md")
    (tmp_path / "accounts.csv").write_text(example)
    assert set(load_accounts_file(tmp_path / "accounts.csv").values()) == {"acme", "globex"}


@pytest.mark.parametrize("name", GENERATED_PAGES)
def test_generated_pages_are_current(name: str) -> None:
    from meterlog.commands.reference import generated_pages

    page = (DOCS / name).read_text(encoding="utf-8")
    assert page == generated_pages()[name](), f"docs/{name} is out of date: run 'make docs'"


def test_detectors_page_names_every_model_parameter_and_built_in_rule() -> None:
    page = (DOCS / "detectors.md").read_text(encoding="utf-8")
    for name in ("min_excess` (100)", "`sensitive_file_exposed`", "`@attack_tools`"):
        assert name in page


def test_make_docs_regenerates_every_generated_page(tmp_path: Path) -> None:
    from meterlog.commands.reference import generated_pages, write_pages

    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ndocs:", 1)[1].split("\n\n", 1)[0]
    assert "-m meterlog.commands.reference docs" in recipe
    assert sorted(generated_pages()) == sorted(GENERATED_PAGES)
    write_pages(tmp_path)
    for name in GENERATED_PAGES:
        assert (tmp_path / name).read_text(encoding="utf-8") == (DOCS / name).read_text(
            encoding="utf-8"
        )


def test_readme_introduces_within_its_length() -> None:
    lines = readme().count("\n")
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): move the detail into docs/"
    )


def test_every_manual_page_is_on_the_index() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in [*manual_pages(), *(DOCS / name for name in GENERATED_PAGES)]:
        if page.name != "index.md":
            assert f"]({page.name})" in index, f"docs/index.md does not link {page.name}"


def heading_anchors(text: str) -> set[str]:
    """The anchors of ``text``'s headings, as GitHub makes them (lower case, punctuation
    dropped, spaces as hyphens; a repeated heading gets ``-1``, ``-2``...)."""
    anchors: set[str] = set()
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        match = re.match(r"#{1,6} (.*)", line)
        if fenced or not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        anchor, count = slug, 0
        while anchor in anchors:
            count += 1
            anchor = f"{slug}-{count}"
        anchors.add(anchor)
    return anchors


LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", [README, *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_links_between_pages_resolve(page: Path) -> None:
    """Every relative link of the README and docs/ names a file of the checkout (or a page
    still to be generated, :data:`PENDING_PAGES`), and every ``#anchor`` a heading there."""
    text = page.read_text(encoding="utf-8")
    prose = FENCE.sub("", text)
    broken = []
    for target in LINK.findall(prose):
        if re.match(r"[a-z]+:", target):
            continue  # https://, mailto:
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if path and linked.name in PENDING_PAGES and linked.parent == DOCS:
            continue
        if not linked.is_file() or REPO not in linked.parents:
            broken.append(f"{target}: no such file")
        elif (
            anchor
            and linked.suffix == ".md"
            and anchor not in heading_anchors(linked.read_text(encoding="utf-8"))
        ):
            broken.append(f"{target}: no heading makes #{anchor}")
    assert not broken, f"{page.name}: broken links: {broken}"


def test_readme_plan_is_valid(tmp_path: Path) -> None:
    from meterlog.billing.plans import load_plan_file

    (example,) = code_blocks("toml", "## A small plan")
    (tmp_path / "plans.toml").write_text(example, encoding="utf-8")
    plans = load_plan_file(tmp_path / "plans.toml")
    assert plans.default_plan == "standard"
    assert set(plans.plans) == {"standard", "pro"}
    assert plans.accounts["globex"].tz is not None
    kinds = {(c.meter.kind, c.pricing.kind) for p in plans.plans.values() for c in p.charges}
    assert kinds == {("mau", "per_unit"), ("peak", "package")}


def test_quick_start_on_the_bundled_sample_logs_works(tmp_path: Path) -> None:
    """The README's first ingest example on sample_logs/ runs as written, from the checkout."""
    import subprocess
    import sys

    block = code_blocks("sh", "## Quick start")[0]
    commands = [shlex.split(line) for line in block.splitlines() if line.startswith("meterlog ")]
    assert [words[1] for words in commands] == ["ingest", "usage", "status"]
    store = str(tmp_path / "store")
    outputs = []
    for words in commands:
        args = [store if word == "./store" else word for word in words[1:]]
        result = subprocess.run(
            [sys.executable, "-m", "meterlog", *args],
            cwd=README.parent,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert "0 rejected" not in outputs[0]  # the sample logs hold deliberate bad lines
    assert "failed" not in outputs[0]
    usage = outputs[1].splitlines()
    assert usage[0].startswith("account,requests")
    assert any(line.startswith("acme,") for line in usage[1:])


def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    """``make docs-site``: mkdocs builds the manual with ``--strict`` (every page in the
    navigation, every anchor found). Runs where the ``docs`` extra is installed."""
    import subprocess
    import sys

    pytest.importorskip("mkdocs", reason="mkdocs is not installed: pip install -e '.[docs]'")
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    for page in [*manual_pages(), *(DOCS / name for name in GENERATED_PAGES)]:
        built = site / ("index.html" if page.stem == "index" else f"{page.stem}/index.html")
        assert built.is_file(), f"{page.name} is not in the site"


def _contract_layers() -> list[list[str]]:
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    return [[room.strip().removeprefix("meterlog.") for room in line.split("|")] for line in layers]


def test_architecture_page_names_every_room_and_module_and_the_contracts_layers() -> None:
    page = (DOCS / "architecture.md").read_text()
    package = REPO / "meterlog"
    rooms = sorted(p.name for p in package.iterdir() if (p / "__init__.py").exists())
    for room in rooms:
        assert f"`meterlog/{room}/`" in page, room
        for module in sorted((package / room).glob("*.py")):
            if module.stem != "__init__":
                assert f"`{module.stem}`" in page or f"`{module.name}`" in page, module
    ground = sorted(p.stem for p in package.glob("*.py"))
    assert len([m for m in ground if m not in ("__init__", "__main__", "cli")]) <= 8
    for module in ground:
        if module not in ("__init__", "__main__"):
            assert f"`{module}`" in page, module
    # the table of layers is the contract's, in its order
    table = [
        [name.strip(" `") for name in row.split("|")[2].split(",")]
        for row in page.split("## The layers, as a contract")[1]
        .split("## The rooms")[0]
        .splitlines()
        if row.startswith("| ") and not row.startswith("| layer")
    ]
    assert table == _contract_layers()


def test_readme_architecture_states_the_contracts_layers() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Architecture")[1].split("\n## ")[0]
    (diagram,) = re.findall(r"```\n(.*?)```", section, flags=re.S)
    shown = [part.strip() for part in " ".join(diagram.split()).split(">")]
    expected = [" | ".join(line) for line in _contract_layers()]
    expected = [e for e in expected if e not in ("config",)]
    ground = [" | ".join(line) for line in _contract_layers()][-2]
    assert shown[: len(expected) - 2] == expected[:-2]
    assert shown[-3:] == ["config", "ground modules", "errors"] and ground.startswith("durations")
