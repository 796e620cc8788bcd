"""Sphinx configuration of the course website; build it with `make site` (see web/build.py).

The sources are staged by web/build.py (lectures with their committed outputs, the lecture
index, the student exercises); nothing is executed. Every asset is served with the site:
MathJax 3 from web/node_modules (copied by build.py into _static/mathjax), the theme's own
CSS, JS and fonts. Warnings (a broken link between pages, an unknown math environment) are
errors.
"""

import tomllib
from pathlib import Path

_PROJECT = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
REPOSITORY = _PROJECT["project"]["urls"]["Repository"]

project = "How neural networks are trained"
author = "the nbkit course authors"
copyright = "the nbkit course authors, MIT License"
extensions = ["myst_nb"]
exclude_patterns = ["**/.ipynb_checkpoints"]
suppress_warnings = ["myst.header"]  # notebooks number their sections by hand (## 1. ...)

# Notebooks: render what is committed, never run them.
nb_execution_mode = "off"
nb_ipywidgets_js = {}  # no widget manager from a CDN; build.py keeps each widget's saved PNG
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_dmath_double_inline = True  # $$...$$ inside a paragraph, as Jupyter renders it
myst_heading_anchors = 3

# Math: a local MathJax 3 (build.py copies it to _static/mathjax/).
mathjax_path = "mathjax/tex-chtml.js"
mathjax3_config = {"chtml": {"displayAlign": "center"}}

html_theme = "sphinx_book_theme"
html_title = project
html_static_path = ["_static"]  # build.py adds the MathJax folder
html_css_files = ["course.css"]
html_last_updated_fmt = None
html_theme_options = {
    "repository_url": REPOSITORY,
    "repository_branch": "main",
    "path_to_docs": "",  # the staged sources keep the repository's paths
    "use_repository_button": True,
    "use_download_button": True,
    "launch_buttons": {"binderhub_url": "https://mybinder.org",
                       "colab_url": "https://colab.research.google.com",
                       "notebook_interface": "jupyterlab"},
    "show_toc_level": 2,
}
