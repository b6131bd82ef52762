"""The evaluation's heavy dependencies (ranx, numba, matplotlib, scikit-learn) stay out of the serving path."""

from __future__ import annotations

import subprocess
import sys


def test_serving_and_cli_imports_do_not_pull_in_ranx() -> None:
    code = (
        "import sys, ragqa.cli, service.main, index.retriever, index.ranker\n"
        "heavy = sorted({'ranx', 'numba', 'matplotlib', 'sklearn'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
