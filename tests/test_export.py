"""GIF / PNG export: decodable by Pillow, looping, last frame held, crisp nearest-neighbour pixels."""
import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from made_viz import export

D = 784


@pytest.fixture
def run():
    rng = np.random.default_rng(0)
    return SimpleNamespace(order=rng.permutation(D), final_image=(rng.random(D) < 0.3).astype(np.uint8))


def decode_gif(data: bytes):
    gif = Image.open(io.BytesIO(data))
    durations = []
    for k in range(gif.n_frames):
        gif.seek(k)
        durations.append(gif.info["duration"])
    return gif, durations


def test_frame_at_draws_exactly_the_first_pixels_of_the_order(run):
    frame = export.frame_at(run.order, run.final_image, 100).ravel()
    drawn = run.order[:100]
    assert set(np.flatnonzero(frame != export.PENDING)) == set(drawn.tolist())
    assert np.array_equal(frame[drawn] == export.INK, run.final_image[drawn] == 1)
    finished = export.frame_at(run.order, run.final_image, D).ravel()
    assert np.array_equal(finished == export.INK, run.final_image == 1)
    assert (export.frame_at(run.order, run.final_image, 0) == export.PENDING).all()


def test_frame_positions_end_on_the_finished_digit():
    assert export.frame_positions(784, 8)[:3] == [0, 8, 16]
    assert export.frame_positions(784, 8)[-1] == 784
    assert export.frame_positions(784, 100, start=392) == [392, 492, 592, 692, 784]
    assert export.frame_positions(784, 1000) == [0, 784]


def test_gif_decodes_loops_and_holds_the_last_frame(run):
    frames = export.frames_from_run(run, every=28)
    data = export.gif_bytes(frames, scale=4, frame_ms=40, hold_ms=1500)
    gif, durations = decode_gif(data)
    assert gif.format == "GIF"
    assert gif.n_frames == len(frames) == 29
    assert gif.info["loop"] == 0
    assert durations[-1] == 1500 and set(durations[:-1]) == {40}
    assert gif.size == (28 * 4, 28 * 4)
    gif.seek(gif.n_frames - 1)
    last = np.asarray(gif.convert("L"))[::4, ::4]
    assert np.array_equal(last < 128, run.final_image.reshape(28, 28) == 1)


def test_fewer_frames_with_a_larger_stride_make_a_smaller_gif(run):
    every_pixel = export.gif_bytes(export.frames_from_run(run, every=2), scale=4)
    every_row = export.gif_bytes(export.frames_from_run(run, every=28), scale=4)
    assert len(every_row) < len(every_pixel)


def test_frames_start_after_given_pixels(run):
    run.start = 392
    frames = export.frames_from_run(run, every=392)
    assert len(frames) == 2
    assert (frames[0] != export.PENDING).sum() == 392


def test_png_has_the_upscaled_size_and_crisp_pixels(run):
    frame = export.frame_at(run.order, run.final_image, 300)
    image = Image.open(io.BytesIO(export.png_bytes(frame, scale=10)))
    assert image.format == "PNG" and image.size == (280, 280)
    grey = np.asarray(image.convert("L"))
    blocks = grey.reshape(28, 10, 28, 10)
    # nearest neighbour: each 10x10 block is one flat colour
    assert (blocks.max(axis=(1, 3)) == blocks.min(axis=(1, 3))).all()


@pytest.mark.parametrize("call, field", [
    (lambda r: export.frame_at(r.order, r.final_image, 785), "position"),
    (lambda r: export.frames_from_run(r, every=0), "every"),
    (lambda r: export.png_bytes(export.frame_at(r.order, r.final_image, 1), scale=0), "scale"),
    (lambda r: export.gif_bytes([], scale=2), "number of frames"),
])
def test_bad_arguments_name_the_field(run, call, field):
    with pytest.raises(ValueError, match=field):
        call(run)
