"""Binder and Colab links, derived from the one repository address in pyproject.toml.

    python -m web.links           # print the README's badge block and the Colab first cell
    python -m web.links --write   # rewrite README.md's badge block and Colab cell in place

README.md holds both between ``<!-- web.links: NAME -->`` and ``<!-- /web.links -->``;
tests/test_binder_colab.py checks they are what this module derives.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BRANCH = "main"
START_HERE = "lectures/00_interactive_tour.ipynb"
_BLOCK = re.compile(
    r"(<!-- web\.links: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- /web\.links -->)", re.S)


def repository() -> str:
    """The repository's URL from ``[project.urls] Repository``, without a trailing slash."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    url = project["urls"]["Repository"].rstrip("/")
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise ValueError(f"[project.urls] Repository must be https://github.com/OWNER/NAME, "
                         f"got {url!r}")
    return url


def _owner_name() -> str:
    return repository().removeprefix("https://github.com/")


def binder_url(path: str = "lectures/README.md") -> str:
    return (f"https://mybinder.org/v2/gh/{_owner_name()}/{BRANCH}"
            f"?urlpath=lab/tree/{path}")


def colab_url(path: str = START_HERE) -> str:
    return f"https://colab.research.google.com/github/{_owner_name()}/blob/{BRANCH}/{path}"


def colab_cell(source: str | None = None) -> str:
    """The first cell a Colab user runs: nbkit from ``source`` (default: the repository)."""
    source = source or f"git+{repository()}"
    return (
        "# On Colab only: install nbkit from the course repository, then fetch the datasets\n"
        "# (downloaded once into ~/.cache/nbkit and checked against their SHA-256).\n"
        f'%pip install -q "nbkit @ {source}"\n'
        "from nbkit import data\n"
        'for split in ("train", "test"):\n'
        "    data.load_mnist(split)\n"
        "    data.load_fashion_mnist(split)\n"
    )


def blocks() -> dict[str, str]:
    """The README's generated blocks, by name."""
    return {
        "badges": (
            f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder_url()})\n"
            f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({colab_url()})\n"),
        "colab-cell": f"```python\n{colab_cell()}```\n",
    }


def render(readme: str) -> str:
    """``readme`` with every generated block replaced by its current text."""
    wanted = blocks()

    def sub(match):
        return match.group(1) + wanted[match.group("name")] + match.group(4)

    found = {m.group("name") for m in _BLOCK.finditer(readme)}
    if found != set(wanted):
        raise ValueError(f"README.md must hold the blocks {sorted(wanted)}, found {sorted(found)}")
    return _BLOCK.sub(sub, readme)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--write"]:
        path = REPO / "README.md"
        path.write_text(render(path.read_text()))
    else:
        for name, text in blocks().items():
            print(f"<!-- {name} -->\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
