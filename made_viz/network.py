"""A MADE's network without torch: its weights, one mask's masked weights, and prepared masks.
NumPy only.

MADEWeights holds a model's weights as read-only arrays; every sampler and scorer takes one
wherever it takes a torch MADE (made_viz.model), and computes the same. One mask of a model
is computed from its masked weights: in float64 (Float64Net, what the naive sampler runs and
the exact fallback reads; the fast sampler's plan is built from the same numbers) or in float32
(Float32Net, what the sensitivity view and the likelihood scorer read).

Building those takes time and memory (docs/performance.md), so
each mask's are kept in a PreparedMask: `prepare(model, k)` gives mask k's, from the store of
this process (STORE), which holds every model's prepared masks until the model is dropped or,
for a torch MADE, its weights change.
"""
from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .exact import ExactLogits, error_bound, snap_to_grid
from .fast_plan import FastPlan
from .masks import MaskSet
from .validation import is_int


# ---------------------------------------------------------------------------------------------
# A MADE's weights.

def tensor_shapes(masks: MaskSet) -> dict[str, tuple[int, ...]]:
    """The state-dict layout: the tensors a MADE with these masks holds, by name, with their
    shapes. The names are model.MADE's modules (hidden.0 .. hidden.L-1, output, direct_layer;
    weights in torch Linear's (out, in) shape); checkpoint files and MADEWeights use them too.
    Without hidden layers there is no output layer, and the direct layer carries the bias."""
    D, hidden_sizes = masks.D, masks.hidden_sizes
    widths = [D, *hidden_sizes]
    shapes = {}
    for l, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        shapes[f"hidden.{l}.weight"], shapes[f"hidden.{l}.bias"] = (b, a), (b,)
    if hidden_sizes:
        shapes["output.weight"], shapes["output.bias"] = (D, widths[-1]), (D,)
    if masks.direct:
        shapes["direct_layer.weight"] = (D, D)
        if not hidden_sizes:
            shapes["direct_layer.bias"] = (D,)
    return shapes


@dataclass(frozen=True, eq=False)
class MADEWeights:
    """A MADE's weights as read-only NumPy arrays, and its mask sets: all the samplers read.

    sample, sample_with_probs, SamplingRun and logit_gradient take one wherever they take a
    made_viz.model.MADE, and give the same results: the samplers compute in float64 either way,
    from the same stored values. Without torch, a page that only samples (the Sampling page)
    never waits for torch's import. From a model: MADEWeights.of(model); from a checkpoint:
    checkpoint.load_weights. Layers are (weight (out, in), bias) as in torch's Linear; direct
    is (weight, bias or None), None without direct connections; output is None without hidden
    layers. mask_index is the mask that mask=None means.
    """

    mask_sets: tuple[MaskSet, ...]
    hidden: tuple[tuple[np.ndarray, np.ndarray], ...]
    output: tuple[np.ndarray, np.ndarray] | None
    direct: tuple[np.ndarray, np.ndarray | None] | None
    mask_index: int = 0

    @property
    def D(self) -> int:
        return self.mask_sets[0].D

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return tuple(self.mask_sets[0].hidden_sizes)

    @property
    def num_masks(self) -> int:
        return len(self.mask_sets)

    @classmethod
    def of(cls, model) -> "MADEWeights":
        """A snapshot of a torch MADE's weights (float32 copies) and its current mask."""
        arrays = {name: _read_only(tensor.detach().cpu().float().numpy().copy())
                  for name, tensor in model.state_dict().items()}
        return cls.from_arrays(tuple(model.mask_sets), arrays, model.mask_index)

    @classmethod
    def from_arrays(cls, mask_sets: tuple[MaskSet, ...], arrays: dict[str, np.ndarray],
                    mask_index: int = 0) -> "MADEWeights":
        """From arrays named and shaped as tensor_shapes(mask_sets[0]) says (checked)."""
        expected = tensor_shapes(mask_sets[0])
        shapes = {name: tuple(array.shape) for name, array in arrays.items()}
        if shapes != expected:
            raise ValueError(f"the weights are {shapes}, expected {expected}")
        layers = len(mask_sets[0].hidden_sizes)
        direct = arrays.get("direct_layer.weight")
        return cls(
            tuple(mask_sets),
            tuple((arrays[f"hidden.{l}.weight"], arrays[f"hidden.{l}.bias"])
                  for l in range(layers)),
            (arrays["output.weight"], arrays["output.bias"]) if layers else None,
            None if direct is None else (direct, arrays.get("direct_layer.bias")), mask_index)


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _weights(model) -> MADEWeights:
    """Any MADE as MADEWeights: a torch model is read without tracking gradients."""
    if isinstance(model, MADEWeights):
        return model
    import torch  # only a torch model gets here, so torch is already imported

    with torch.inference_mode():
        return MADEWeights.of(model)


def resolve_mask(model, mask) -> int | str:
    """A mask argument checked: None (the model's current mask) or an index -> the index;
    "ensemble" stays "ensemble"."""
    if mask is None:
        return model.mask_index
    if isinstance(mask, str):
        if mask == "ensemble":
            return "ensemble"
        raise ValueError(f"mask must be None, 'ensemble' or a mask index in"
                         f" 0..{model.num_masks - 1}, got {mask!r}")
    if not is_int(mask) or not 0 <= mask < model.num_masks:
        raise ValueError(f"mask must be None, 'ensemble' or a mask index in"
                         f" 0..{model.num_masks - 1}, got {mask!r}")
    return int(mask)


# ---------------------------------------------------------------------------------------------
# One mask's network in float64 (the samplers) and float32 (gradients, scoring).

def masked_weights(model, masks: MaskSet):
    """float64 masked weights: hidden [(W, b)], output bias c (D,), out_W (D, H_L) and
    direct_W (D, D) (zeros where the model has none). The first layer is snapped to its exact
    grid (exact.snap_to_grid)."""
    weights = _weights(model)
    as64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731

    def masked(W, mask):  # a float64 copy of our own, masked in place: one array, not two
        out = np.array(W, dtype=np.float64)
        out *= mask
        return out

    hidden = [(masked(W, mask), as64(b)) for (W, b), mask in zip(weights.hidden, masks.layer_masks)]
    D = weights.D
    c, out_W, direct_W = np.zeros(D), np.zeros((D, 0)), np.zeros((D, D))
    if weights.output is not None:
        out_W = masked(weights.output[0], masks.layer_masks[-1])
        c += as64(weights.output[1])
    if weights.direct is not None:
        direct_W = masked(weights.direct[0], masks.direct_mask)
        if weights.direct[1] is not None:
            c += as64(weights.direct[1])
    if not all(np.isfinite(a).all() for layer in hidden for a in layer) or not (
            np.isfinite(c).all() and np.isfinite(out_W).all() and np.isfinite(direct_W).all()):
        raise ValueError("the model's weights are not all finite; it cannot be sampled")
    if hidden:
        hidden[0] = snap_to_grid(*hidden[0])  # W1 is masked()'s own copy
    return hidden, c, out_W, direct_W


class Float64Net:
    """A MADE with one mask in float64 numpy, in the model's own layout: the naive sampler's
    network, and the exact arithmetic both samplers fall back on (`exact`).

    hidden[l] = (W, b) masked, the first layer snapped to its exact grid; c the output bias;
    out_W the masked output weights (D, H_L); direct_W the masked direct weights (D, D), zeros
    without direct connections. error_bound[d] bounds |computed logit_d - exact logit_d|.
    """

    def __init__(self, model, k: int):
        masks = model.mask_sets[k]
        self.D, self.order = model.D, np.asarray(masks.order)
        self.hidden, self.c, self.out_W, self.direct_W = masked_weights(model, masks)
        self.error_bound = error_bound(self.hidden, self.c, self.out_W, self.direct_W)
        self.exact = ExactLogits(self.hidden, self.c, self.out_W, self.direct_W)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits (n, D) of 0/1 images x (n, D): one full forward pass in float64."""
        logits = x @ self.direct_W.T + self.c
        if self.hidden:
            h = x
            for W, b in self.hidden:
                h = np.maximum(h @ W.T + b, 0.0)
            logits += h @ self.out_W.T
        return logits


class Float32Net:
    """One mask's masked weights in float32, shared by logit_gradient (the Sampling page's
    sensitivity view) and the likelihood module's scorer (the Likelihood page): one copy, not
    one per page (docs/performance.md has their size). Torch's own precision: the
    gradient compares pixels, the scorer sums in float64.

    hidden_T[l] = (W masked and transposed, (inputs, units) C-contiguous, bias), so a binary
    image's pre-activations are sums of the rows of its ink pixels; out_W (D, H_L) masked, None
    without hidden layers; direct_T (D, D) masked and transposed, None without direct
    connections, shared by masks with the same direct mask (the same ordering, unless a mask
    was edited; shared_direct holds them by direct mask); bias (D,) the output's and the direct
    connections' biases together."""

    def __init__(self, weights: MADEWeights, k: int, shared_direct: dict):
        masks = weights.mask_sets[k]
        self.hidden_T = [(_masked32(W.T, mask.T), np.asarray(b, dtype=np.float32))
                         for (W, b), mask in zip(weights.hidden, masks.layer_masks)]
        self.bias = np.zeros(weights.D, dtype=np.float32)
        self.out_W = None
        if weights.output is not None:
            self.out_W = _masked32(weights.output[0], masks.layer_masks[-1])
            self.bias += weights.output[1]
        self.direct_T = None
        if weights.direct is not None:
            direct_key = np.ascontiguousarray(masks.direct_mask).tobytes()
            if direct_key not in shared_direct:
                shared_direct[direct_key] = _masked32(weights.direct[0].T, masks.direct_mask.T)
            self.direct_T = shared_direct[direct_key]
            if weights.direct[1] is not None:
                self.bias += weights.direct[1]

    def gradient(self, x: np.ndarray, d: int) -> np.ndarray:
        """d logit_d / d x at x (float32 (D,)), by backpropagation through the ReLUs."""
        pre_activations, h = [], x
        for W_T, b in self.hidden_T:
            pre_activations.append(h @ W_T + b)
            h = np.maximum(pre_activations[-1], 0.0)
        gradient = np.zeros(len(x), dtype=np.float32)
        if self.direct_T is not None:
            gradient += self.direct_T[:, d]
        if self.out_W is not None:
            back = self.out_W[d]
            for (W_T, _), a in zip(reversed(self.hidden_T), reversed(pre_activations)):
                back = W_T @ (back * (a > 0))  # ReLU passes the gradient where it was active
            gradient += back
        return gradient


def _masked32(weights: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """weights * mask as a new C-contiguous float32 array, in one pass (views transposed)."""
    out = np.empty(weights.shape, dtype=np.float32)
    np.multiply(weights, mask, out=out, dtype=np.float32, casting="unsafe")
    return out


# ---------------------------------------------------------------------------------------------
# Prepared masks: built once, kept while the weights are unchanged.

PARTS = ("plan", "reference", "float32", "paths")


class PreparedMask:
    """Mask `index` of one model, prepared: each part is built once, when first asked for (or
    up front: prepare(model, k, parts)), and kept.

    plan(): the fast sampler's FastPlan. reference(): the Float64Net that the naive sampler
    runs and the exact fallback reads. float32(): the Float32Net that logit_gradient and the
    likelihood scorer read. connectivity(): the mask's path counts (MaskSet.connectivity).
    built: the parts built so far, by name (PARTS).

    It holds its model weakly (the store is keyed by the model) and is valid for the weights
    it was prepared with: after a torch MADE's weights change, prepare() gives a new one, and
    this one refuses to build more.
    """

    def __init__(self, model, index: int, weights_key: tuple, shared_direct: dict):
        self.index = index
        self.masks = model.mask_sets[index]
        self._model = weakref.ref(model)
        self._weights_key = weights_key
        self._shared_direct = shared_direct
        self._plan = self._reference = self._float32 = self._paths = None

    @property
    def built(self) -> frozenset[str]:
        parts = (self._plan, self._reference, self._float32, self._paths)
        return frozenset(name for name, part in zip(PARTS, parts) if part is not None)

    def plan(self) -> FastPlan:
        if self._plan is None:
            model, owner = self._live_model(), weakref.ref(self)  # the plan keeps no cycle
            self._plan = FastPlan(self.masks, lambda: masked_weights(model, self.masks),
                                  lambda: owner().reference().exact)
        return self._plan

    def reference(self) -> Float64Net:
        if self._reference is None:
            self._reference = Float64Net(self._live_model(), self.index)
        return self._reference

    def float32(self) -> Float32Net:
        if self._float32 is None:
            self._float32 = Float32Net(_weights(self._live_model()), self.index,
                                       self._shared_direct)
        return self._float32

    def connectivity(self) -> np.ndarray:
        if self._paths is None:
            self._paths = self.masks.connectivity()
        return self._paths

    def build(self, *parts: str) -> "PreparedMask":
        """Build the named parts now (see PARTS); returns self."""
        for part in parts:
            if part not in PARTS:
                raise ValueError(f"parts must be among {', '.join(PARTS)}, got {part!r}")
            {"plan": self.plan, "reference": self.reference, "float32": self.float32,
             "paths": self.connectivity}[part]()
        return self

    def _live_model(self):
        model = self._model()
        if model is None or _weights_key(model) != self._weights_key:
            raise ValueError("this prepared mask's model is gone or its weights have changed;"
                             " prepare the mask again")
        return model

    def __repr__(self) -> str:
        return f"PreparedMask(index={self.index}, built={sorted(self.built)})"


def _weights_key(model) -> tuple:
    """What a model's prepared masks are valid for: a torch MADE's parameters (storage and
    in-place version) and mask sets; a MADEWeights never changes."""
    weights = () if isinstance(model, MADEWeights) else tuple(
        (p.data_ptr(), p._version) for p in model.parameters())
    return weights + tuple(id(ms) for ms in model.mask_sets)


@dataclass
class _ModelEntry:
    weights_key: tuple
    masks: dict[int, PreparedMask] = field(default_factory=dict)
    shared_direct: dict = field(default_factory=dict)  # Float32Net's direct weights by mask


class PreparedMasks:
    """Every model's prepared masks, by model and mask index: the process has one (STORE).

    Models are held weakly: a model that is dropped takes its prepared masks with it. A torch
    MADE's are valid while its weights are unchanged (the same tensors, not modified in place,
    and the same mask sets): asked for after a change, the store starts the model afresh.
    """

    def __init__(self):
        self._models: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def get(self, model, index: int) -> PreparedMask:
        """Mask `index` of model, prepared (nothing is built until asked for)."""
        entry = self._entry(model)
        prepared = entry.masks.get(index)
        if prepared is None:
            if not is_int(index) or not 0 <= index < model.num_masks:
                raise ValueError(f"mask must be a mask index in 0..{model.num_masks - 1},"
                                 f" got {index!r}")
            index = int(index)
            prepared = PreparedMask(model, index, entry.weights_key, entry.shared_direct)
            entry.masks[index] = prepared
        return prepared

    def prepared(self, model) -> dict[int, PreparedMask]:
        """The masks of model prepared so far for its current weights, by index."""
        entry = self._models.get(model)
        if entry is None or entry.weights_key != _weights_key(model):
            return {}
        return dict(entry.masks)

    def forget(self, model) -> None:
        """Drop everything prepared for model (the next use builds afresh)."""
        self._models.pop(model, None)

    def _entry(self, model) -> _ModelEntry:
        key = _weights_key(model)
        entry = self._models.get(model)
        if entry is None or entry.weights_key != key:
            entry = _ModelEntry(key)
            self._models[model] = entry
        return entry


STORE = PreparedMasks()


def prepare(model, index: int, parts: Iterable[str] = ()) -> PreparedMask:
    """Mask `index` of model, prepared (from STORE), with `parts` (names from PARTS) built now:
    what a page needs, built before a user waits for it."""
    return STORE.get(model, index).build(*parts)
