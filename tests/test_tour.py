"""made_viz.tour: the bundled tours load and keep to a card's limits; a tour file of one's own
loads from its folder; every mistake in a file is named by step and field with what is
allowed; a tour's name from a link is only ever looked up among the folder's files."""
from __future__ import annotations

import re

import pytest

from made_viz import tour
from made_viz.tour import MAX_WORDS, VIEWS, check_tour_name, load_tour, tour_names

GOOD_STEP = '''
[[step]]
title = "Count the paths"
text = "The product of the masks counts the paths."
view = "masks.paths"
settings = { D = 4, hidden = "5, 5", seed = 3 }
link = { gen = true }
'''


def write(folder, name: str, body: str):
    (folder / f"{name}.toml").write_text(body, encoding="utf-8")
    return folder


def test_the_bundled_tours_load_and_keep_to_a_cards_limits():
    assert tour_names() == ["lecture", "quick"]
    lecture = load_tour("lecture")
    assert len(lecture.steps) == 11
    for step in lecture.steps:
        assert len(step.text.split()) <= MAX_WORDS and step.view in VIEWS
        assert "\n" not in (step.formula or "")
    # the arc of the story: unmasked, degrees, masks, paths, trained, score, draw, sample,
    # orderings, broken, not memorized
    assert [s.view for s in lecture.steps] == [
        "tiny.train", "masks.graph", "masks.matrices", "masks.paths", "tiny.train",
        "likelihood.score", "likelihood.draw", "sampling.player", "likelihood.masks",
        "tiny.train", "sampling.nearest"]
    first, fifth, last = lecture.steps[0], lecture.steps[4], lecture.steps[9]
    assert (first.settings["break"], first.settings["networks"]) == ("unmasked", "broken")
    assert (fifth.settings["break"], fifth.settings["networks"]) == ("none", "correct")
    assert (last.settings["break"], last.settings["networks"]) == ("sees-self", "both")


def test_a_steps_link_carries_the_settings_its_page_has_and_its_extras(tmp_path):
    step = load_tour("mine", write(tmp_path, "mine", 'title = "Mine"\n' + GOOD_STEP)).steps[0]
    assert step.page == "masks"
    assert step.link_params() == {"D": "4", "hidden": "5, 5", "ordering": "natural",
                                  "degrees": "random", "seed": "3", "direct": "false",
                                  "gen": "true"}
    assert step.link_params({**step.settings, "seed": 9})["seed"] == "9"
    tiny = load_tour("lecture").steps[0].link_params()
    assert "networks" not in tiny and "autostart" not in tiny  # the tour's own settings


def test_a_tour_of_ones_own_sits_beside_the_others(tmp_path):
    write(tmp_path, "my-lecture", 'title = "Mine"\n' + GOOD_STEP * 2)
    write(tmp_path, "Not A Name", 'title = "x"\n' + GOOD_STEP)
    (tmp_path / "notes.txt").write_text("not a tour")
    assert tour_names(tmp_path) == ["my-lecture"]
    mine = load_tour("my-lecture", tmp_path)
    assert (mine.name, mine.title, len(mine.steps)) == ("my-lecture", "Mine", 2)


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "lecture.toml", "LECTURE",
                                  "", " lecture", "lecture/../quick", "x" * 5000, "lec%74ure"])
def test_a_link_names_a_tour_only_among_the_bundled_files(name):
    with pytest.raises(ValueError, match=r"^tour must be one of lecture, quick, got "):
        check_tour_name(name)


@pytest.mark.parametrize("body, message", [
    ('title = "x"\n', "the file: missing field 'step'"),
    ('title = "x"\nauthor = "me"\n' + GOOD_STEP, "the file: unknown field 'author' (allowed:"),
    ('title = "x"\nstep = 3\n', "step: 1 to 20 [[step]] tables, got int"),
    ('title = "x"\n' + GOOD_STEP.replace('view = "masks.paths"', 'view = "masks.path"'),
     "step 1: view must be one of tiny.train, masks.graph, masks.matrices, masks.paths,"),
    ('title = "x"\n' + GOOD_STEP.replace("title = ", "titel = "),
     "step 1: unknown field 'titel' (allowed: title, text, formula, view, settings, link)"),
    ('title = "x"\n' + GOOD_STEP.replace('title = "Count the paths"\n', ""),
     "step 1: missing field 'title'"),
    ('title = "x"\n' + GOOD_STEP.replace("counts the paths.", "counts " + "word " * 70),
     "step 1: text: at most 70 words, got 76"),
    ('title = "x"\n' + GOOD_STEP.replace("D = 4", "D = 40"),
     "step 1: settings: D must be in 2..12, got 40"),
    ('title = "x"\n' + GOOD_STEP.replace("seed = 3", "speed = 3"),
     "step 1: settings: unknown field 'speed' (allowed: D, hidden, ordering, degrees, seed,"),
    ('title = "x"\n' + GOOD_STEP.replace('"5, 5"', '"500, 500"'),
     "step 1: settings: hidden: hidden sizes: at most 3 layers of 1..16 units"),
    ('title = "x"\n' + GOOD_STEP.replace('"5, 5"', '"five"'),
     "hidden sizes: item 1 ('five') is not a whole number"),
    ('title = "x"\n' + GOOD_STEP.replace("gen = true", '"a b" = 1'),
     "step 1: link: 'a b' is not a URL parameter's name"),
    ('title = "x"\n' + GOOD_STEP.replace("gen = true", "gen = [1]"),
     "step 1: link: gen must be a short text, a number or true/false"),
    ('title = "x"\n[[step]]\ntitle = "t"\ntext = "t"\nview = "tiny.train"\n'
     'settings = { networks = "both" }\n',
     "step 1: settings: networks = 'both' needs a break (sees-self or unmasked)"),
    ('title = "x"\n[[step]]\ntitle = "t"\ntext = "t"\nview = "tiny.train"\n'
     'settings = { rows = 8, cols = 8 }\n', "step 1: settings: rows × cols must be in 4..16"),
    ('title = "x"\n' + GOOD_STEP.replace('view = "masks.paths"',
                                         'view = "masks.paths"\nformula = "a\\nb"'),
     "step 1: formula must be one line"),
    ('title = "x"\n[[step]\n', "cannot be read: "),
])
def test_a_mistake_in_a_tour_file_is_named_by_step_and_field(tmp_path, body, message):
    write(tmp_path, "mine", body)
    with pytest.raises(ValueError) as error:
        load_tour("mine", tmp_path)
    assert str(error.value).startswith("tour 'mine' (mine.toml")
    assert message in str(error.value), str(error.value)


def test_a_file_that_is_not_text_is_named(tmp_path):
    (tmp_path / "mine.toml").write_bytes(b"\xff\xfe title")
    with pytest.raises(ValueError, match=re.escape("tour 'mine' (mine.toml) cannot be read")):
        load_tour("mine", tmp_path)


def test_every_view_names_its_page_and_each_setting_a_default_it_allows():
    for name, view in VIEWS.items():
        assert view.page in ("masks", "tiny", "likelihood", "sampling"), name
        for setting, spec in view.settings.items():
            assert spec.check(setting, spec.default) == spec.default, (name, setting)
    assert tour.url_value(True) == "true" and tour.url_value(0.1) == "0.1"
