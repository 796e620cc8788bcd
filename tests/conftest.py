"""Shared pytest setup: point the data loaders at the local datasets, headless matplotlib."""

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
_SHARED_DATA = REPO.parent / "shared" / "data"
if "NBKIT_DATA" not in os.environ and _SHARED_DATA.is_dir():
    os.environ["NBKIT_DATA"] = str(_SHARED_DATA)
