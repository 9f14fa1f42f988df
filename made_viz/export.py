"""Export a sampling run as an animated GIF or the current digit as a PNG. Pillow and NumPy only.

A frame is a (side, side) array of palette indices: PENDING (not drawn yet), PAPER (drawn 0),
INK (drawn 1). Frames are upscaled by repeating pixels (nearest neighbour), so every MNIST
pixel stays a crisp square however large the image.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from .validation import check_int

PENDING, PAPER, INK = 0, 1, 2
PALETTE = [(226, 231, 240), (255, 255, 255), (17, 17, 27)]  # RGB per palette index
MAX_SCALE = 64
MAX_FRAMES = 2000


def _side(D: int) -> int:
    side = int(round(D ** 0.5))
    if side * side != D:
        raise ValueError(f"image export needs a square number of pixels, got D={D}")
    return side


def frame_at(order, final_image, position: int) -> np.ndarray:
    """Palette indices of the digit after the first `position` pixels of `order` are drawn."""
    order, final_image = np.asarray(order), np.asarray(final_image)
    D = len(order)
    position = check_int("position", position, 0, D)
    frame = np.full(D, PENDING, dtype=np.uint8)
    drawn = order[:position]
    frame[drawn] = np.where(final_image[drawn] > 0, INK, PAPER)
    side = _side(D)
    return frame.reshape(side, side)


def frame_positions(D: int, every: int, start: int = 0) -> list[int]:
    """Positions start, start+every, ..., always ending on D (the finished digit)."""
    every = check_int("every", every, 1, 1_000_000)
    start = check_int("start", start, 0, D)
    positions = list(range(start, D, every))
    if not positions or positions[-1] != D:
        positions.append(D)
    return positions


def frames_from_run(run, every: int = 8) -> list[np.ndarray]:
    """One frame every `every` pixels of a SamplingRun, from its first free pixel to the end.

    Only the run's order and final image are read, so the run's own position is untouched.
    Pixels given up front (completion) show from the first frame.
    """
    start = int(getattr(run, "start", 0))
    return [frame_at(run.order, run.final_image, p)
            for p in frame_positions(len(run.order), every, start)]


def to_image(frame: np.ndarray, scale: int) -> Image.Image:
    """A palette image with each pixel repeated scale x scale times (crisp squares)."""
    scale = check_int("scale", scale, 1, MAX_SCALE)
    frame = np.asarray(frame, dtype=np.uint8)
    if frame.ndim != 2:
        raise ValueError(f"frame must be a 2-D array of palette indices, got shape {frame.shape}")
    big = frame.repeat(scale, axis=0).repeat(scale, axis=1)
    image = Image.fromarray(big, mode="P")
    image.putpalette([c for rgb in PALETTE for c in rgb])
    return image


def gif_bytes(frames, *, scale: int = 8, frame_ms: int = 40, hold_ms: int = 2000) -> bytes:
    """An animated GIF that loops forever and holds its last frame for `hold_ms`."""
    frames = list(frames)
    check_int("number of frames", len(frames), 1, MAX_FRAMES)
    frame_ms = check_int("frame_ms", frame_ms, 20, 10_000)
    hold_ms = check_int("hold_ms", hold_ms, frame_ms, 60_000)
    images = [to_image(f, scale) for f in frames]
    durations = [frame_ms] * (len(images) - 1) + [hold_ms]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=durations, loop=0, disposal=1)
    return buffer.getvalue()


def png_bytes(frame: np.ndarray, *, scale: int = 10) -> bytes:
    """One frame (see frame_at) as a PNG, upscaled with nearest neighbour."""
    buffer = io.BytesIO()
    to_image(frame, scale).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
