"""Tiny worlds: small binary images whose distribution is known exactly, and MADEs small enough
to enumerate, so that "the outputs form a distribution" can be checked by adding up p(x).

Pattern i of a D-pixel world has x_d = (i >> d) & 1; pixel d sits at row d // cols, column
d % cols. Every array over patterns is indexed that way (2^D entries, D from 4 to 16).

>>> from made_viz.masks import build_masks
>>> world = bars_and_stripes(3, 3)                 # 14 equally likely images
>>> bool(np.isclose(world.entropy, math.log(14)))
True
>>> masks = build_masks(world.D, [24], seed=0, direct=True)
>>> model = new_model([masks], seed=0)
>>> quick = TrainSettings(max_steps=200, seconds=60, report_every=0.25)
>>> last = list(train_live([model], world, seed=0, settings=quick))[-1]
>>> last.done, last.comparisons[0].kl >= 0       # exact KL(p_true || p_model) in nats
(True, True)
>>> print(f"{np.exp(enumerate_log_probs(model)).sum():.6f}")  # p(x) over all 2^9 patterns
1.000000
>>> break_masks(masks, "sees-self").is_autoregressive()      # each output sees its own input
False
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from .masks import MaskSet
from .model import MADE, MaskedLinear
from .train import run_steps
from .validation import check_number, is_int

MIN_D, MAX_D = 4, 16
MAX_NOISE = 0.5
MAX_PROTOTYPES = 8
# How a mask can be broken: each output sees its own input (>= instead of > into the outputs),
# one mask entry flipped, or no masks at all (a plain autoencoder).
BREAKS = ("sees-self", "flip", "unmasked")


# ---------------------------------------------------------------------------------------------
# Worlds
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class World:
    """A distribution over the 2^D images of rows x cols binary pixels, known exactly."""

    name: str
    rows: int
    cols: int
    log_probs: np.ndarray  # float64 (2^D,), -inf for impossible patterns
    _cumulative: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "_cumulative", np.cumsum(self.probs))

    @property
    def D(self) -> int:
        return self.rows * self.cols

    @property
    def probs(self) -> np.ndarray:
        return np.exp(self.log_probs)

    @property
    def entropy(self) -> float:
        """H = -sum p log p in nats: no normalized model can have an expected NLL below it."""
        p = self.probs
        possible = p > 0
        return float(-(p[possible] * self.log_probs[possible]).sum())

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n images drawn from the world, uint8 (n, D)."""
        picks = np.searchsorted(self._cumulative, rng.random(n) * self._cumulative[-1],
                                side="right")
        return all_patterns(self.D)[np.minimum(picks, 2 ** self.D - 1)]


def check_size(rows: int, cols: int) -> int:
    """D = rows x cols, or a ValueError naming the range."""
    D = rows * cols
    if not MIN_D <= D <= MAX_D:
        raise ValueError(f"D = rows × cols must be in {MIN_D}..{MAX_D},"
                         f" got {rows} × {cols} = {D}")
    return D


@lru_cache(maxsize=MAX_D + 1)
def all_patterns(D: int) -> np.ndarray:
    """uint8 (2^D, D): row i is pattern i, x_d = (i >> d) & 1 (read-only, shared)."""
    patterns = ((np.arange(2 ** D)[:, None] >> np.arange(D)[None, :]) & 1).astype(np.uint8)
    patterns.flags.writeable = False
    return patterns


@lru_cache(maxsize=4)
def _pattern_tensor(D: int) -> torch.Tensor:
    return torch.from_numpy(all_patterns(D).astype(np.float32))


def pattern_index(images: np.ndarray) -> np.ndarray:
    """(n, D) 0/1 images -> their pattern numbers i = sum_d x_d 2^d."""
    images = np.asarray(images, dtype=np.int64)
    return (images << np.arange(images.shape[-1])).sum(axis=-1)


def _from_patterns(name: str, rows: int, cols: int, allowed: np.ndarray) -> World:
    """The uniform distribution over the given pattern numbers."""
    log_probs = np.full(2 ** (rows * cols), -np.inf)
    allowed = np.unique(allowed)
    log_probs[allowed] = -math.log(len(allowed))
    return World(name, rows, cols, log_probs)


def bars_and_stripes(rows: int, cols: int) -> World:
    """Every image whose rows are each all on or all off, or whose columns are: equally likely.
    2^rows + 2^cols - 2 images (empty and full are both kinds)."""
    check_size(rows, cols)
    stripes = [np.repeat(((k >> np.arange(rows)) & 1)[:, None], cols, axis=1)
               for k in range(2 ** rows)]
    bars = [np.repeat(((k >> np.arange(cols)) & 1)[None, :], rows, axis=0)
            for k in range(2 ** cols)]
    images = np.array([image.ravel() for image in stripes + bars])
    return _from_patterns(f"bars and stripes {rows}×{cols}", rows, cols, pattern_index(images))


def check_prototypes(prototypes: Sequence[int], D: int) -> tuple[int, ...]:
    if len(prototypes) == 0:
        raise ValueError("prototypes: the pattern set is empty; keep at least one prototype")
    if len(prototypes) > MAX_PROTOTYPES:
        raise ValueError(f"prototypes: at most {MAX_PROTOTYPES}, got {len(prototypes)}")
    for k, p in enumerate(prototypes, 1):
        if not is_int(p) or not 0 <= p < 2 ** D:
            raise ValueError(f"prototypes: pattern {k} must be a number in 0..{2 ** D - 1}"
                             f" (a {D}-pixel image), got {p!r}")
    return tuple(int(p) for p in prototypes)


def check_noise(noise: float) -> float:
    return check_number("noise", noise, 0, MAX_NOISE, what="a flip probability")


def noisy_prototypes(rows: int, cols: int, prototypes: Sequence[int], noise: float) -> World:
    """Pick one of the prototypes (equally likely), then flip each pixel with probability
    `noise`: p(x) = mean_k noise^h_k (1 - noise)^(D - h_k), h_k = Hamming distance to k."""
    D = check_size(rows, cols)
    prototypes, noise = check_prototypes(prototypes, D), check_noise(noise)
    distances = np.bitwise_count(np.arange(2 ** D)[:, None] ^ np.array(prototypes)[None, :])
    with np.errstate(divide="ignore"):
        log_flip, log_keep = np.log(noise), np.log1p(-noise)
    # 0 flips at noise 0 cost nothing (0 * log 0 would be nan).
    per_prototype = (np.multiply(distances, log_flip, out=np.zeros(distances.shape),
                                 where=distances > 0) + (D - distances) * log_keep)
    with np.errstate(divide="ignore"):
        log_probs = np.logaddexp.reduce(per_prototype, axis=1) - math.log(len(prototypes))
    return World(f"{len(prototypes)} prototypes {rows}×{cols}, noise {noise:g}", rows, cols,
                 log_probs)


def default_prototypes(rows: int, cols: int) -> tuple[int, ...]:
    """A few shapes that read at any size: the border, a diagonal, the left half."""
    r, c = np.mgrid[0:rows, 0:cols]
    shapes = [(r == 0) | (r == rows - 1) | (c == 0) | (c == cols - 1),
              np.abs(r * (cols - 1) - c * (rows - 1)) < max(rows, cols) / 2,
              c < cols / 2]
    numbers = pattern_index(np.array([s.ravel() for s in shapes]))
    return tuple(dict.fromkeys(int(n) for n in numbers))


@dataclass(frozen=True)
class Setup:
    """Everything a Tiny world run is made from: the world, then the network."""

    data: str = "prototypes"
    rows: int = 3
    cols: int = 3
    prototypes: tuple[int, ...] | None = None  # None: default_prototypes(rows, cols)
    noise: float = 0.1
    hidden_sizes: tuple[int, ...] = (24, 24)
    ordering: str | tuple[int, ...] = "natural"
    degrees: str = "random"
    seed: int = 0
    direct: bool = True
    K: int = 1


DATA_SETS = ("prototypes", "bars-and-stripes")
DEFAULT_SETUP = Setup()


def world_from_settings(setup: Setup) -> World:
    if setup.data == "bars-and-stripes":
        return bars_and_stripes(setup.rows, setup.cols)
    if setup.data == "prototypes":
        prototypes = (default_prototypes(setup.rows, setup.cols) if setup.prototypes is None
                      else setup.prototypes)
        return noisy_prototypes(setup.rows, setup.cols, prototypes, setup.noise)
    raise ValueError(f"data set must be one of {', '.join(DATA_SETS)}, got {setup.data!r}")


# ---------------------------------------------------------------------------------------------
# Models: building, enumerating, comparing
# ---------------------------------------------------------------------------------------------

def new_model(mask_sets: Sequence[MaskSet], seed: int) -> MADE:
    """A MADE on these masks, its weights drawn from `seed` alone (as torch's Linear draws
    them), so a correct and a broken network start from the very same weights. A generator of
    its own: sessions training at once never share torch's global random state."""
    model = MADE(mask_sets[0].D, mask_sets[0].hidden_sizes, mask_sets=mask_sets)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, MaskedLinear):
                bound = 1 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=generator)
                if layer.bias is not None:
                    layer.bias.uniform_(-bound, bound, generator=generator)
    return model


def enumerate_log_probs(model: MADE, mask=None) -> np.ndarray:
    """log p(x) of every pattern, float64 (2^D,), pattern i having x_d = (i >> d) & 1.

    mask: None (the current mask), k, or "ensemble" (log-mean-exp of the masks' p(x)). The
    logits come from one batched pass; the per-pixel log-likelihoods are summed in float64, so
    the exact sum of p(x) is not blurred by rounding.
    """
    if mask == "ensemble":
        per_mask = np.stack([enumerate_log_probs(model, k) for k in range(model.num_masks)])
        return np.logaddexp.reduce(per_mask, axis=0) - math.log(model.num_masks)
    return _log_likelihood_of_patterns(pattern_logits(model, mask))


def pattern_logits(model: MADE, mask=None) -> np.ndarray:
    """float64 (2^D, D): the logit of p(x_d = 1 | ...) for every pattern under one mask (None:
    the current one), from one batched pass; the model's current mask is put back."""
    x = _pattern_tensor(model.D)
    current = model.mask_index
    with torch.inference_mode():
        if mask is not None:
            model.set_mask(mask)
        try:
            return model(x).double().numpy()
        finally:
            model.set_mask(current)


def _log_likelihood_of_patterns(logits: np.ndarray) -> np.ndarray:
    """sum_d log Bernoulli(x_d; sigmoid(logit_d)) of every pattern, in float64."""
    x = all_patterns(logits.shape[1])
    return -np.logaddexp(0.0, np.where(x == 1, -logits, logits)).sum(axis=1)


def logit_average_log_q(model: MADE) -> np.ndarray:
    """log q(x) of every pattern for the "ensemble" that averages the masks' logits and
    multiplies the Bernoullis they give (what karpathy/pytorch-made's test loss does).

    NOT a distribution once the masks' orderings differ: the averaged logit of pixel d then
    mixes in masks that put d late, whose logits see pixels that come after d in the others,
    so the product no longer follows one chain rule and sum_x q(x) is not 1 (see
    ensemble_sums). With one shared ordering every averaged logit still sees only x_<d, and q
    is a distribution, though not the masks' mixture.
    """
    logits = np.mean([pattern_logits(model, k) for k in range(model.num_masks)], axis=0)
    return _log_likelihood_of_patterns(logits)


@dataclass(frozen=True)
class EnsembleSums:
    """Sums over all 2^D patterns of two ways to combine K masks."""

    probability_average: float  # sum_x mean_k p_k(x): the mixture, 1 for any masks
    logit_average: float        # sum_x q(x), q from the mean of the masks' logits


def ensemble_sums(model: MADE) -> EnsembleSums:
    """The mixture's total (1 up to rounding) beside the logit average's (1 only when the masks
    share one ordering)."""
    return EnsembleSums(float(np.exp(enumerate_log_probs(model, "ensemble")).sum()),
                        float(np.exp(logit_average_log_q(model)).sum()))


@dataclass(frozen=True)
class Comparison:
    """A model's log p(x) over every pattern against the world's, in nats."""

    total: float          # sum of p(x) over all 2^D patterns: 1 for a distribution
    cross_entropy: float  # E_true[-log q(x)] = H + KL: the expected NLL on fresh data
    kl: float             # KL(p_true || q); negative only when q is not a distribution


def compare(world: World, log_q: np.ndarray) -> Comparison:
    possible = np.isfinite(world.log_probs)
    p = world.probs[possible]
    cross_entropy = float(-(p * log_q[possible]).sum())
    return Comparison(total=float(np.exp(log_q).sum()), cross_entropy=cross_entropy,
                      kl=cross_entropy - world.entropy)


# ---------------------------------------------------------------------------------------------
# Broken masks
# ---------------------------------------------------------------------------------------------

def break_masks(masks: MaskSet, how: str, *, layer: int | str | None = None,
                row: int | None = None, col: int | None = None) -> MaskSet:
    """A copy of `masks` broken one way (see BREAKS); its connectivity() counts the paths
    through the masks as they now are, so is_autoregressive() says what they do:

    - "sees-self": every weight into the outputs kept when m(output) >= m(source), not >:
      output d sees x_d itself.
    - "flip": entry (row, col) of layer_masks[layer] (or of the direct mask, layer="direct")
      turned from 0 to 1 or 1 to 0. Removing a weight, or adding one that no path uses, leaves
      the masks autoregressive, and they say so.
    - "unmasked": every mask all ones: a plain autoencoder.
    """
    layer_masks = [m.copy() for m in masks.layer_masks]
    direct = None if masks.direct_mask is None else masks.direct_mask.copy()
    if how == "sees-self":
        degrees = masks.input_degrees
        below = masks.hidden_degrees[-1] if masks.hidden_degrees else None
        if below is not None:
            layer_masks[-1] = (degrees[:, None] >= below[None, :]).astype(np.uint8)
        if direct is not None:
            direct = (degrees[:, None] >= degrees[None, :]).astype(np.uint8)
    elif how == "flip":
        target = _flip_target(masks, layer_masks, direct, layer)
        rows, cols = target.shape
        if not (is_int(row) and 0 <= row < rows and is_int(col) and 0 <= col < cols):
            raise ValueError(f"flip: row must be in 0..{rows - 1} and col in 0..{cols - 1},"
                             f" got ({row!r}, {col!r})")
        target[row, col] ^= 1
    elif how == "unmasked":
        layer_masks = [np.ones_like(m) for m in layer_masks]
        direct = None if direct is None else np.ones_like(direct)
    else:
        raise ValueError(f"break must be one of {', '.join(BREAKS)}, got {how!r}")
    return MaskSet(masks.D, masks.hidden_sizes, masks.order, masks.input_degrees,
                   masks.hidden_degrees, layer_masks, direct, edited=True)


def _flip_target(masks: MaskSet, layer_masks: list, direct, layer) -> np.ndarray:
    if layer == "direct":
        if direct is None:
            raise ValueError("flip: this network has no direct connections")
        return direct
    if is_int(layer) and 0 <= layer < len(layer_masks):
        return layer_masks[layer]
    raise ValueError(f"flip: layer must be in 0..{len(layer_masks) - 1}"
                     f"{' or direct' if direct is not None else ''}, got {layer!r}")


# ---------------------------------------------------------------------------------------------
# Live training
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainSettings:
    batch_size: int = 64
    lr: float = 1e-2
    seconds: float = 10.0        # wall-clock budget of one run
    max_steps: int = 20_000
    report_every: float = 0.4    # seconds between reports (the page's curve refresh)


@dataclass(frozen=True)
class Report:
    step: int
    seconds: float
    train_nll: tuple[float, ...]  # per network: mean minibatch NLL since the last report
    comparisons: tuple[Comparison, ...]  # per network, over every pattern
    log_probs: tuple[np.ndarray, ...]    # per network: log p(x) of every pattern
    done: bool


def train_live(models: Sequence[MADE], world: World, *, seed: int,
               settings: TrainSettings = TrainSettings(), mask="ensemble",
               should_stop: Callable[[], bool] | None = None) -> Iterator[Report]:
    """Train every model on the same fresh minibatches from `world` (the same seed, the same
    data, in lockstep), with train.run_steps, and report about every `settings.report_every`
    seconds: the minibatch NLL and an exact comparison with the world by enumeration.

    A generator: the caller draws each report when it is ready for it and simply stops drawing
    to end the run. Fresh data each step: a normalized model's expected NLL can never fall
    below the world's entropy, so one that does is not a distribution.
    """
    rng = np.random.default_rng([seed, 1])
    optimizers = [torch.optim.Adam(m.parameters(), lr=settings.lr) for m in models]
    started, step, done = time.perf_counter(), 0, False
    while not done:
        sums, count = [0.0] * len(models), 0
        deadline = time.perf_counter() + settings.report_every
        while time.perf_counter() < deadline and step < settings.max_steps:
            batch = torch.from_numpy(world.sample(settings.batch_size, rng).astype(np.float32))
            draws = rng.integers(0, models[0].num_masks, size=1)
            for k, (model, optimizer) in enumerate(zip(models, optimizers)):
                for _, loss in run_steps(model, optimizer, [batch], draws):
                    sums[k] += loss
            step, count = step + 1, count + 1
        elapsed = time.perf_counter() - started
        done = (step >= settings.max_steps or elapsed >= settings.seconds
                or (should_stop is not None and should_stop()))
        for model in models:
            model.eval()
        log_probs = tuple(enumerate_log_probs(m, mask) for m in models)
        yield Report(step, elapsed, tuple(s / max(count, 1) for s in sums),
                     tuple(compare(world, log_q) for log_q in log_probs), log_probs, done)
