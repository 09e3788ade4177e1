"""The README stays a short entry point and every relative link of the README and of docs/ leads somewhere;
CI runs the test command the README gives. (`mkdocs build --strict` itself runs in .ci/run.)"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_README_LINES = 250
# [text](target) and [text]: target, outside code spans and fenced blocks (stripped first).
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def markdown_files() -> list[Path]:
    return [README, *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "benchmarks").glob("*.md"))]


def relative_links(text: str) -> list[str]:
    text = CODE_SPAN.sub("", FENCE.sub("", text))
    targets = INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)
    return [t for t in targets if not urlparse(t).scheme and not t.startswith(("#", "//", "mailto:"))]


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in relative_links(path.read_text(encoding="utf-8")):
        file_part = unquote(target.split("#", 1)[0].split("?", 1)[0])
        if file_part and not (path.parent / file_part).exists():
            broken.append(target)
    return broken


def test_the_readme_is_at_most_250_lines():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines, more than {MAX_README_LINES}: move the detail to a page in docs/")


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_at_an_existing_file(path):
    assert broken_links(path) == [], f"{path.relative_to(ROOT)}: links to files that do not exist"


def test_the_link_check_sees_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("# there\n")
    page.write_text("[ok](there.md#a) [gone](missing.md) `[code](nowhere.md)` [web](https://example.org/x.md)\n"
                    "```\n[fenced](nowhere-either.md)\n```\n[ref]: also-missing.md\n")
    assert broken_links(page) == ["missing.md", "also-missing.md"]


def test_ci_runs_the_test_command_the_readme_gives():
    readme = README.read_text(encoding="utf-8")
    quick_start = re.search(r"^```bash\n(.*?)^```", readme, re.MULTILINE | re.DOTALL)  # the first bash block
    assert quick_start, "README.md: no bash block in the quick start"
    commands = quick_start.group(1).strip().splitlines()
    assert len(commands) == 2, f"the quick start gives two commands, not {commands}"
    test_command = commands[1].strip()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in [line.strip() for line in ci], f".ci/run does not run the README's `{test_command}`"


def test_every_docs_page_is_in_the_nav_or_reserved():
    """A page left out of mkdocs.yml's nav would be built but unreachable (mkdocs only warns)."""
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    listed = set(re.findall(r":\s*([\w./-]+\.md)\s*$", nav, re.MULTILINE))
    assert pages - listed == set()
