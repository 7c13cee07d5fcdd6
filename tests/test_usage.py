"""Every ```python block of docs/usage.md, docs/guide.md and the README runs as it is (real
MNIST from NISH_DATA_DIR where a block reads data)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
USAGE = ROOT / "docs" / "usage.md"
README = ROOT / "README.md"
GUIDE = ROOT / "docs" / "guide.md"
SECTIONS = (
    "nish in a Flax NNX module",
    "A zoo model in NNX",
    "A zoo model in linen",
    "Gradient analysis of a trained zoo model",
    "Activation theory",
)


def snippets(page: Path = USAGE) -> list[tuple[str, str]]:
    """(section title, code) of every ```python block, in page order."""
    found = []
    for section in re.split(r"^## ", page.read_text(), flags=re.MULTILINE)[1:]:
        title = section.splitlines()[0]
        for code in re.findall(r"^```python\n(.*?)^```$", section, re.DOTALL | re.MULTILINE):
            found.append((title, code))
    return found


def test_each_section_has_its_snippet():
    titles = [title for title, _ in snippets()]
    assert len(titles) == len(SECTIONS)
    for title, section in zip(titles, SECTIONS, strict=True):
        assert title.startswith(section)


# Every block of every page, each run on its own, as a reader copies it.
BLOCKS = [(page, title, code) for page in (USAGE, README, GUIDE) for title, code in snippets(page)]


@pytest.mark.parametrize(
    ("page", "title", "code"), BLOCKS, ids=[f"{page.name}: {title}" for page, title, _ in BLOCKS]
)
def test_snippet_runs(page, title, code):
    exec(compile(code, f"{page}: {title}", "exec"), {"__name__": "__main__"})


def test_the_readme_shows_the_activation_nnx_and_the_analysis():
    assert [title for title, _ in snippets(README)] == [
        "In 30 seconds",
        "Flax NNX and linen",
        "Gradient analysis",
    ]
