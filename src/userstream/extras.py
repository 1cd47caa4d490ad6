"""The package's optional parts (pyproject.toml's extras): is one installed, how to get it.

A leaf module: the local runtime's `doctor` and the stream both ask it, and it imports
nothing of the package.
"""

from __future__ import annotations

import importlib.util

#: How to get the Spark stream (the `stream` extra: pyspark).
PYSPARK_MISSING_HINT = (
    "Install the stream's extra: pip install 'userstream[stream]' (or `make setup`)."
)


def pyspark_installed() -> bool:
    return importlib.util.find_spec("pyspark") is not None
