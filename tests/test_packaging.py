"""pyproject.toml, environment.yml, the README's two commands and .ci/run agree."""

import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_NAME = re.compile(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$")


def _split(requirement):
    name, _extras, spec = _NAME.match(requirement).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def _pyproject_requirements():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += [r for r in extra if not r.startswith("nbkit")]
    return dict(_split(r) for r in reqs)


# conda-forge names that differ from PyPI's
CONDA_TO_PYPI = {"pytorch": "torch"}


def _conda_requirements():
    reqs = {}
    in_deps = False
    for line in (REPO / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        item = re.match(r"^  - ([^:]+)$", line)
        if in_deps and item:
            name, spec = _split(item.group(1))
            if name not in {"python", "pip"}:
                reqs[CONDA_TO_PYPI.get(name, name)] = spec
    return reqs


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    assert _conda_requirements() == _pyproject_requirements()


def test_environment_yml_requires_python_like_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert f"python{project['requires-python']}" in (REPO / "environment.yml").read_text()


@pytest.mark.parametrize("target", ["lab", "test"])
def test_readme_commands_exist_in_the_makefile(target):
    readme = (REPO / "README.md").read_text()
    assert f"make {target}" in readme.split("\n## ", 2)[0] + readme.split("\n## ", 2)[1]
    assert re.search(rf"^{target}:", (REPO / "Makefile").read_text(), re.M)


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)
    assert "NBKIT_DATA" in ci


def test_no_dataset_files_are_tracked():
    import subprocess

    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert not [f for f in tracked if "ubyte" in f]


def _imported_distributions(paths):
    """Distributions of the third-party modules that the files import (ast, no execution)."""
    import ast
    import sys
    from importlib.metadata import packages_distributions

    dists = packages_distributions()
    found = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in ("nbkit", "__future__") or top in sys.stdlib_module_names:
                    continue
                for dist in dists.get(top, [top]):
                    found.setdefault(dist.lower().replace("_", "-"), set()).add(path.name)
    return found


def test_runtime_dependencies_are_what_a_student_kernel_imports():
    """Every package imported by the modules a student's kernel loads (all of nbkit except
    the grader, plus nbkit.grading.checks) is a runtime dependency, and the grading and lab
    tools are extras, not runtime dependencies."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = {_split(r)[0] for r in project["dependencies"]}
    nbkit = REPO / "nbkit"
    kernel_side = [p for p in nbkit.rglob("*.py")
                   if "grading" not in p.parts and p.name != "cli.py"]
    kernel_side.append(nbkit / "grading" / "checks.py")
    imported = _imported_distributions(kernel_side)
    # what the runtime dependencies bring themselves (IPython comes with ipywidgets)
    from importlib.metadata import requires

    brought = {_split(r.split(";")[0])[0] for dist in runtime for r in requires(dist) or ()
               if "extra ==" not in r}
    missing = set(imported) - runtime - brought
    assert not missing, {d: imported[d] for d in missing}
    assert {"numpy", "scipy", "pooch", "threadpoolctl", "scikit-learn"} <= set(imported)
    extras = project["optional-dependencies"]
    for tool in ("nbformat", "nbclient", "nbgrader", "jupyterlab"):
        assert tool not in runtime
        assert any(_split(r)[0] == tool for r in extras["grading"] + extras["lab"])
