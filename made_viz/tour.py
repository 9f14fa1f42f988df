"""Guided tours: a tour is a TOML file of steps in made_viz/tours/, read and checked here.

A step says what the lecturer says (a title, at most MAX_WORDS words of text, at most one
formula) and what the audience sees: one of VIEWS, the live view of a page, with its settings.
Its "open in the full page" link opens that page with the settings it has (each setting's URL
parameter) and the step's `link` table of extra URL parameters. docs/tour.md shows a file.

    >>> tour = load_tour("lecture")
    >>> tour.steps[1].view, tour.steps[1].page
    ('masks.graph', 'masks')
    >>> check_tour_name("../../etc/passwd")
    Traceback (most recent call last):
    ...
    ValueError: tour must be one of lecture, quick, got '../../etc/passwd'

A tour's name in a link is only ever looked up among the files of the folder (tour_names),
never made into a path. No streamlit here: the tour page (made_viz/ui/tour_page.py) draws it.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from made_viz.masks import DEGREE_RULES
from made_viz.tiny import DATA_SETS, MAX_D, MIN_D, MAX_NOISE
from made_viz.validation import (SEED_MAX, check_bool, check_choice, check_fields, check_int,
                                 check_number, check_text, parse_hidden_sizes)

TOURS = Path(__file__).resolve().parent / "tours"
DEFAULT_TOUR = "lecture"
MAX_STEPS = 20
MAX_WORDS = 70
MAX_TITLE_CHARS = 60
MAX_FORMULA_CHARS = 80
NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")  # a tour file's stem, as a link names it
STEP_FIELDS = ("title", "text", "formula", "view", "settings", "link")


@dataclass(frozen=True)
class Setting:
    """One setting of a view: what it allows, its default, and the URL parameter that carries
    it to the full page (None: the tour's own, such as whether training starts by itself)."""

    kind: str  # "int", "number", "choice", "bool" or "text"
    default: object
    low: float = 0
    high: float = 0
    choices: tuple = ()
    param: str | None = ""  # "": the setting's own name
    parse: object = None  # text: a parser that raises ValueError, run to check the text

    def check(self, name: str, value):
        if self.kind == "int":
            return check_int(name, value, int(self.low), int(self.high))
        if self.kind == "number":
            return check_number(name, value, self.low, self.high)
        if self.kind == "choice":
            return check_choice(name, value, self.choices)
        if self.kind == "bool":
            return check_bool(name, value)
        text = check_text(name, value, max_chars=40, one_line=True) if value != "" else ""
        if self.parse is not None:
            try:
                self.parse(text)
            except ValueError as error:
                raise ValueError(f"{name}: {error}") from None
        return text


def _int(default: int, low: int, high: int, param: str | None = "") -> Setting:
    return Setting("int", default, low, high, param=param)


def _choice(default: str, choices, param: str | None = "") -> Setting:
    return Setting("choice", default, choices=tuple(choices), param=param)


def _flag(default: bool, param: str | None = "") -> Setting:
    return Setting("bool", default, param=param)


def _text(default: str, parse=None) -> Setting:
    return Setting("text", default, parse=parse)


def _tiny_hidden(text: str):
    sizes = parse_hidden_sizes(text)
    if not 1 <= len(sizes) <= 3 or max(sizes) > 64:
        raise ValueError(f"hidden sizes: 1 to 3 layers of 1..64 units here, got {text!r}")


def _tour_hidden(text: str):
    sizes = parse_hidden_sizes(text)
    if len(sizes) > 3 or (sizes and max(sizes) > 16):
        raise ValueError(f"hidden sizes: at most 3 layers of 1..16 units in a tour (the graph"
                         f" must fit a projector), got {text!r}")


NETWORK = {  # the Masks page's, small enough to draw unit by unit on a projector
    "D": _int(5, 2, 12), "hidden": _text("6, 6", _tour_hidden),
    "ordering": _choice("natural", ("natural", "reverse", "random")),
    "degrees": _choice("random", DEGREE_RULES), "seed": _int(0, 0, SEED_MAX),
    "direct": _flag(False),
}
TEST_DIGITS = 1000  # in the bundled test subset (pretrained/mnist-test-subset.npz)
IMAGE = {"model": _text("mnist"), "mask": _text("ensemble"),
         "digit": _int(0, 0, TEST_DIGITS - 1, None),
         "blank": _flag(False, None)}


SAMPLES = {"model": _text("mnist"), "ordering": _text("natural"), "seed": _int(0, 0, SEED_MAX)}


@dataclass(frozen=True)
class View:
    page: str  # the full page's url_path
    settings: dict = field(default_factory=dict)


VIEWS = {
    "tiny.train": View("tiny", {
        "data": _choice("prototypes", DATA_SETS), "rows": _int(3, 1, 8), "cols": _int(3, 1, 8),
        "noise": Setting("number", 0.1, 0.0, MAX_NOISE), "hidden": _text("24, 24", _tiny_hidden),
        "seed": _int(0, 0, SEED_MAX), "secs": _int(3, 1, 30),
        "break": _choice("none", ("none", "sees-self", "unmasked")),
        "networks": _choice("correct", ("correct", "broken", "both"), None),
        "autostart": _flag(True, None)}),
    "masks.graph": View("masks", {**NETWORK, "unit": _text("")}),
    "masks.matrices": View("masks", {**NETWORK, "gen": _flag(True)}),
    "masks.paths": View("masks", {**NETWORK, "gen": _flag(True)}),
    "likelihood.score": View("likelihood", IMAGE),
    "likelihood.draw": View("likelihood", IMAGE),
    "likelihood.masks": View("likelihood", IMAGE),
    "sampling.player": View("sampling", SAMPLES),
    "sampling.nearest": View("sampling", SAMPLES),
}


def url_value(value) -> str:
    """A setting as a URL parameter spells it: true/false, numbers and text as written."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class Step:
    title: str
    text: str
    formula: str | None
    view: str
    settings: dict  # every setting of the view: the file's, else the view's default
    link: dict  # extra URL parameters of the full page, as text

    @property
    def page(self) -> str:
        return VIEWS[self.view].page

    def link_params(self, settings: dict | None = None) -> dict[str, str]:
        """The full page's URL parameters for these settings (the step's own by default)."""
        settings = self.settings if settings is None else settings
        specs = VIEWS[self.view].settings
        params = {spec.param or name: url_value(settings[name])
                  for name, spec in specs.items() if spec.param is not None}
        return {**params, **self.link}


@dataclass(frozen=True)
class Tour:
    name: str
    title: str
    steps: tuple[Step, ...]


def tour_names(folder: Path = TOURS) -> list[str]:
    """The tours a link may name: the folder's *.toml files whose stem is a plain name."""
    return sorted(p.stem for p in folder.glob("*.toml") if NAME.fullmatch(p.stem))


def check_tour_name(value, folder: Path = TOURS) -> str:
    return check_choice("tour", value, tour_names(folder))


def load_tour(name: str, folder: Path = TOURS) -> Tour:
    """The tour `name` (one of tour_names), read and checked; a ValueError names the file,
    the step and the field that is wrong, and what it allows."""
    name = check_tour_name(name, folder)
    path = folder / f"{name}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"tour {name!r} ({path.name}) cannot be read: {error}") from None
    try:
        return parse_tour(data, name)
    except ValueError as error:
        raise ValueError(f"tour {name!r} ({path.name}), {error}") from None


def parse_tour(data: dict, name: str) -> Tour:
    check_fields("the file", data, ("title", "step"), required=("title", "step"))
    title = check_text("title", data["title"], max_chars=MAX_TITLE_CHARS, one_line=True)
    steps = data["step"]
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
        raise ValueError(f"step: 1 to {MAX_STEPS} [[step]] tables, got "
                         f"{len(steps) if isinstance(steps, list) else type(steps).__name__}")
    return Tour(name, title, tuple(parse_step(entry, k) for k, entry in enumerate(steps, 1)))


def parse_step(entry, number: int) -> Step:
    where = f"step {number}"
    check_fields(where, entry, STEP_FIELDS, required=("title", "text", "view"))
    view = check_choice(f"{where}: view", entry["view"], tuple(VIEWS))
    formula = entry.get("formula")
    return Step(
        title=check_text(f"{where}: title", entry["title"], max_chars=MAX_TITLE_CHARS,
                         one_line=True),
        text=check_text(f"{where}: text", entry["text"], max_chars=1000, max_words=MAX_WORDS),
        formula=None if formula is None else check_text(
            f"{where}: formula", formula, max_chars=MAX_FORMULA_CHARS, one_line=True),
        view=view, settings=check_settings(where, view, entry.get("settings", {})),
        link=check_link(where, entry.get("link", {})))


def check_settings(where: str, view: str, settings) -> dict:
    """Every setting of the view: the file's, checked, else the view's default."""
    specs = VIEWS[view].settings
    check_fields(f"{where}: settings", settings, tuple(specs))
    checked = {name: spec.check(f"{where}: settings: {name}", settings[name])
               if name in settings else spec.default for name, spec in specs.items()}
    if view == "tiny.train":
        if not MIN_D <= checked["rows"] * checked["cols"] <= MAX_D:
            raise ValueError(f"{where}: settings: rows × cols must be in {MIN_D}..{MAX_D}, got "
                             f"{checked['rows']} × {checked['cols']}")
        if checked["networks"] != "correct" and checked["break"] == "none":
            raise ValueError(f"{where}: settings: networks = {checked['networks']!r} needs a"
                             " break (sees-self or unmasked)")
    return checked


def check_link(where: str, link) -> dict[str, str]:
    """Extra URL parameters: plain names, and values that are text, numbers or true/false."""
    if not isinstance(link, dict):
        raise ValueError(f"{where}: link must be a table of URL parameters")
    for key, value in link.items():
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,19}", key):
            raise ValueError(f"{where}: link: {key[:20]!r} is not a URL parameter's name")
        if not isinstance(value, (str, int, float, bool)) or len(url_value(value)) > 200:
            raise ValueError(f"{where}: link: {key} must be a short text, a number or"
                             f" true/false")
    return {key: url_value(value) for key, value in link.items()}
