"""The code stays readable: no function in made_viz/ longer than a screen (DESIGN.md)."""
import ast
from pathlib import Path

MAX_FUNCTION_LINES = 100
PACKAGE = Path(__file__).resolve().parents[1] / "made_viz"


def function_lengths() -> dict[str, int]:
    lengths = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}"
                lengths[name] = node.end_lineno - node.lineno + 1
    return lengths


def test_no_function_is_longer_than_a_screen():
    lengths = function_lengths()
    assert len(lengths) > 100  # the walk found the package's functions
    assert {name: n for name, n in lengths.items() if n > MAX_FUNCTION_LINES} == {}
