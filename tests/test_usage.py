"""Every ```python block of docs/usage.md runs as it is, on real MNIST (NISH_DATA_DIR)."""

import re
from pathlib import Path

import pytest

USAGE = Path(__file__).resolve().parents[1] / "docs" / "usage.md"
SECTIONS = ("nish in a Flax NNX module", "A zoo model in NNX", "A zoo model in linen")


def snippets() -> list[tuple[str, str]]:
    """(section title, code) of every ```python block, in page order."""
    found = []
    for section in re.split(r"^## ", USAGE.read_text(), flags=re.MULTILINE)[1:]:
        title = section.splitlines()[0]
        for code in re.findall(r"^```python\n(.*?)^```$", section, re.DOTALL | re.MULTILINE):
            found.append((title, code))
    return found


def test_each_section_has_its_snippet():
    titles = [title for title, _ in snippets()]
    assert len(titles) == len(SECTIONS)
    for title, section in zip(titles, SECTIONS, strict=True):
        assert title.startswith(section)


@pytest.mark.parametrize(("title", "code"), snippets(), ids=[title for title, _ in snippets()])
def test_snippet_runs(title, code):
    exec(compile(code, f"{USAGE}: {title}", "exec"), {"__name__": "__main__"})
