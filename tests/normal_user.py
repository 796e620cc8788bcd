"""Run a script as a normal (non-root) user, with a sandbox built as ``nbkit grade`` builds one
when it is not run as root (one unprivileged bwrap with a user namespace).

The script gets ``box`` (a :class:`nbkit.grading.sandbox.Sandbox` with an empty submission),
``base`` (its private folder) and the imports below; ``sys.argv[1]`` is the checkout."""

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

UID = 54321
PREAMBLE = r'''
import json, os, socket, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from nbkit.grading.sandbox import Layout, Limits, Sandbox
base = Path(sys.argv[2])
(base / "sub").mkdir()
box = Sandbox(base, Layout(env={"PATH": "/usr/bin:/bin"}), Limits(memory_mb=512, processes=64),
              submission=base / "sub")
'''

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/usr/bin/python3").exists(),
    reason="needs root to become a normal user, and a system python3")


def run_as_normal_user(script: str, repo: Path) -> list[str]:
    """The lines ``PREAMBLE + script`` printed, run by /usr/bin/python3 as uid :data:`UID`."""
    base = Path(tempfile.mkdtemp(prefix="nbkit-nonroot-"))
    base.chmod(0o777)
    try:
        proc = subprocess.run(["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups",
                               "--", "/usr/bin/python3", "-c", PREAMBLE + script, str(repo),
                               str(base)], capture_output=True, text=True, timeout=120,
                              env={"PATH": "/usr/bin:/bin"})
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()
