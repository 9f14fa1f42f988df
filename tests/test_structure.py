"""The code stays a house a newcomer can change (DESIGN.md): no function longer than a screen,
no file longer than MAX_FILE_LINES, pages that never import pages, no module reaching for
another's underscore names, no hidden session key shared by two UI modules, and the layering
ui -> figures/sampling/model -> masks with streamlit only in ui and torch never in masks."""
import ast
import re
from pathlib import Path

MAX_FUNCTION_LINES = 100
MAX_FILE_LINES = 600
ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "made_viz"
UI = PACKAGE / "ui"


def modules() -> dict[str, ast.Module]:
    """Every Python file of the package, by its dotted name."""
    return {".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"):
            ast.parse(path.read_text(), str(path)) for path in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, tree: ast.Module) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import in the file, relative ones
    resolved against the file's package."""
    package = name if name == "made_viz" or name.endswith(("made_viz", "ui", "figures")) and \
        (PACKAGE / Path(*name.split(".")[1:]) / "__init__.py").exists() else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            found.append((base, [alias.name for alias in node.names]))
    return found


def test_no_function_is_longer_than_a_screen():
    lengths = {}
    for name, tree in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lengths[f"{name}:{node.lineno} {node.name}"] = node.end_lineno - node.lineno + 1
    assert len(lengths) > 100  # the walk found the package's functions
    assert {name: n for name, n in lengths.items() if n > MAX_FUNCTION_LINES} == {}


def test_no_file_is_longer_than_its_limit():
    files = [p for p in PACKAGE.rglob("*") if p.suffix in (".py", ".js", ".css", ".html")]
    assert len(files) > 20
    lengths = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in files}
    assert {path: n for path, n in lengths.items() if n > MAX_FILE_LINES} == {}


def test_pages_never_import_pages():
    pages = {name for name in modules() if name.endswith("_page")}
    assert len(pages) >= 4
    reaching = {name: [m for m, names in imports(name, tree) if m in pages] +
                      [f"{m}.{n}" for m, names in imports(name, tree) for n in names
                       if f"{m}.{n}" in pages]
                for name, tree in modules().items() if name in pages or name == "made_viz.ui"}
    assert {name: found for name, found in reaching.items() if found} == {}


def test_no_module_imports_another_modules_underscore_names():
    taken = {name: [f"{m}.{n}" for m, names in imports(name, tree) for n in names
                    if n.startswith("_") and n != "__future__" and m != "__future__"]
             for name, tree in modules().items()}
    tests = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for m, names in imports("tests", ast.parse(path.read_text(), str(path))):
            if m.startswith("made_viz"):
                tests[str(path.relative_to(ROOT))] = [n for n in names if n.startswith("_")]
    assert {name: found for name, found in {**taken, **tests}.items() if found} == {}


def test_no_hidden_session_key_is_shared_by_two_ui_modules():
    """A session key that starts with "_" is the module's own; two modules writing one is a
    hidden coupling (a shared key is a named function of one module instead)."""
    owners: dict[str, set[str]] = {}
    for path in UI.glob("*.py"):
        for key in set(re.findall(r"""["'](_[a-z][a-z0-9_]*)["']""", path.read_text())):
            owners.setdefault(key, set()).add(path.name)
    assert owners  # the pages do keep keys of their own
    assert {key: files for key, files in owners.items() if len(files) > 1} == {}


def test_the_layers_point_one_way():
    below_ui = {name: {m for m, _ in imports(name, tree)}
                for name, tree in modules().items() if not name.startswith("made_viz.ui")}
    assert {name: sorted(m for m in found if m.split(".")[0] == "streamlit" or
                         m.startswith("made_viz.ui"))
            for name, found in below_ui.items()
            if any(m.split(".")[0] == "streamlit" or m.startswith("made_viz.ui") for m in found)
            } == {}
    masks_imports = below_ui["made_viz.masks"]
    assert not {m for m in masks_imports if m.split(".")[0] in ("torch", "plotly", "streamlit")}
