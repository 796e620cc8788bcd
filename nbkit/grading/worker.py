"""Worker process of ``nbkit grade``: ``python -m nbkit.grading.worker JOB.json RESULT.json``.

One submission per process, so a kernel that kills its parent, or a grader crash on a strange
notebook, costs only that submission's row (the main process then records status ``error``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m nbkit.grading.worker JOB.json RESULT.json", file=sys.stderr)
        return 2
    job = json.loads(Path(args[0]).read_text())
    from .grade import grade_notebook

    result = grade_notebook(job["submission"], Path(job["root"]), job["assignment"], job["refs"],
                            timeout=job["timeout"], memory_mb=job["memory_mb"],
                            output_cap=job["output_cap"])
    tmp = Path(args[1]).with_suffix(".partial")
    tmp.write_text(json.dumps(result))
    tmp.replace(args[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
