"""The demo's own scripts (examples/ is not a package), loaded from their files."""

import importlib.util
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name):
    """The module examples/<name>.py."""
    spec = importlib.util.spec_from_file_location(f"demo_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
