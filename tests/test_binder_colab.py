"""Binder and Colab: repo2docker's conventions, the README's badges and Colab cell derived from the
one repository address (pyproject.toml), and that Colab cell run for real in a fresh venv, with
this checkout standing in for the repository URL."""

import importlib.util
import os
import re
import shlex
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("web_links", REPO / "web" / "links.py")
links = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(links)


def test_readme_badges_and_colab_cell_are_derived_from_pyproject():
    readme = (REPO / "README.md").read_text()
    assert links.render(readme) == readme, "run `python -m web.links --write`"
    assert f"({links.binder_url()})" in readme and f"({links.colab_url()})" in readme
    assert f"git+{links.repository()}" in readme
    for target in ("lectures/README.md", links.START_HERE):  # what the badges open exists
        assert (REPO / target).is_file(), target


def test_the_repository_address_is_written_in_one_place_only():
    owner_name = links.repository().removeprefix("https://github.com/")
    holders = subprocess.run(["git", "grep", "-l", "-F", owner_name], cwd=REPO,
                             capture_output=True, text=True).stdout.split()
    # README.md holds it only inside the blocks web.links generates (checked above)
    assert sorted(holders) == ["README.md", "pyproject.toml"], holders
    outside_blocks = re.sub(r"<!-- web\.links: .*?<!-- /web\.links -->", "",
                            (REPO / "README.md").read_text(), flags=re.S)
    assert owner_name not in outside_blocks


def test_repo2docker_finds_the_environment_and_the_post_build_step():
    # a binder/ folder would make repo2docker ignore the root's environment.yml
    assert not (REPO / "binder").exists() or (REPO / "binder" / "environment.yml").exists()
    env = (REPO / "environment.yml").read_text()
    assert re.search(r"^\s+- (--no-deps )?-e \.$", env, re.M), "the env must install the repo"
    post = REPO / "postBuild"
    assert os.access(post, os.X_OK)
    assert "web/install-lab-extras" in post.read_text()


@pytest.mark.slow
def test_colab_first_cell_works_in_a_fresh_venv(tmp_path):
    data_dir = os.environ.get("NBKIT_DATA")
    if not data_dir:
        pytest.skip("NBKIT_DATA is not set: the cell would download MNIST (no network here)")
    cell = links.colab_cell(source=REPO.as_uri())
    pip_line, *python_lines = cell.splitlines()[2:]
    assert pip_line.startswith("%pip install ")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    work = tmp_path / "notebook"  # like a Colab runtime: no checkout on the path
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["NBKIT_DATA"] = data_dir
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-compile",
         *shlex.split(pip_line.removeprefix("%pip install "))],
        cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    script = "\n".join([*python_lines, "import nbkit",
                        "print(nbkit.__file__)",
                        "print(data.load_mnist('test')[0].shape)"])
    run = subprocess.run([str(python), "-c", script], cwd=work, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    installed, shape = run.stdout.strip().splitlines()[-2:]
    assert str(env_dir) in installed and str(REPO) not in installed
    assert shape == "(10000, 784)"
    assert sys.executable != str(python)
