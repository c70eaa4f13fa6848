"""The public surface: every name in ``xsell.__all__`` exists and is documented."""

from __future__ import annotations

import subprocess
import sys

import xsell


def test_all_names_exist_and_have_docstrings() -> None:
    for name in xsell.__all__:
        obj = getattr(xsell, name)
        if name != "__version__":
            assert obj.__doc__, f"xsell.{name} has no docstring"


def test_the_core_imports_no_service_or_storage_stack() -> None:
    code = "import sys, xsell; print(sorted(m for m in ('sqlalchemy', 'fastapi', 'streamlit', 'pyspark', 'matplotlib', 'vowpalwabbit', 'mabwiser') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
