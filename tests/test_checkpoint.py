"""Checkpoints: exact round trips, no pickle, and a clear CheckpointError for every broken file."""
from __future__ import annotations

import ast
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from made_viz import checkpoint
from made_viz.checkpoint import CONFIG, WEIGHTS, CheckpointError
from made_viz.model import MADE


def small_made(**overrides) -> MADE:
    options = dict(D=12, hidden_sizes=[16, 10], num_masks=3, ordering=["random", "reverse"],
                   seed=5)
    options.update(overrides)
    model = MADE(options.pop("D"), options.pop("hidden_sizes"), **options)
    with torch.no_grad():  # weights far from init, so a load that drops them cannot pass
        for param in model.parameters():
            param.normal_(0, 0.5, generator=torch.Generator().manual_seed(param.numel()))
    return model


def binary_batch(D: int, n: int = 16) -> torch.Tensor:
    return torch.bernoulli(torch.full((n, D), 0.4), generator=torch.Generator().manual_seed(1))


@pytest.fixture
def saved(tmp_path):
    model = small_made()
    directory = checkpoint.save(model, tmp_path / "ckpt", {"test_nll": 88.5, "seed": 5})
    return model, directory


def read_header(path: Path) -> tuple[dict, int]:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length]), len(raw) - 8 - length


def rewrite_config(directory: Path, change) -> None:
    config = json.loads((directory / CONFIG).read_text())
    change(config)
    (directory / CONFIG).write_text(json.dumps(config))


def load_error(directory: Path) -> str:
    """The message, the same from load and from the torch-free load_weights."""
    messages = []
    for load in (checkpoint.load, checkpoint.load_weights):
        with pytest.raises(CheckpointError) as error:
            load(directory)
        messages.append(str(error.value))
    assert messages[0] == messages[1]
    return messages[0]


# ---------------------------------------------------------------- round trips

@pytest.mark.parametrize("options", [
    {},
    {"hidden_sizes": [9], "num_masks": 1, "ordering": "columns", "D": 16, "direct": False},
    {"hidden_sizes": [], "num_masks": 2, "ordering": "random"},
    {"hidden_sizes": [20, 20, 20], "num_masks": 4, "hidden_degrees": "equal",
     "ordering": ["natural", "random", list(range(11, -1, -1))]},
])
def test_round_trip_keeps_weights_masks_and_log_prob(tmp_path, options):
    model = small_made(**options)
    model.set_mask(model.num_masks - 1)
    checkpoint.save(model, tmp_path, {"note": "round trip"})
    loaded, config = checkpoint.load(tmp_path)
    assert not loaded.training and config["note"] == "round trip"
    assert (loaded.D, loaded.hidden_sizes, loaded.direct, loaded.num_masks) == (
        model.D, model.hidden_sizes, model.direct, model.num_masks)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    x = binary_batch(model.D)
    for k, (original, restored) in enumerate(zip(model.mask_sets, loaded.mask_sets)):
        np.testing.assert_array_equal(restored.order, original.order)
        for a, b in zip([*restored.layer_masks, restored.direct_mask],
                        [*original.layer_masks, original.direct_mask]):
            np.testing.assert_array_equal(a, b)
        assert torch.equal(loaded.log_prob(x, k), model.log_prob(x, k))
    assert torch.equal(loaded.log_prob(x, "ensemble"), model.log_prob(x, "ensemble"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [CONFIG, WEIGHTS]  # no .tmp left


@pytest.mark.parametrize("options", [
    {"hidden_sizes": [9], "num_masks": 1, "D": 16, "direct": False},
    {"hidden_sizes": [], "num_masks": 2, "ordering": "random"},
    {"hidden_sizes": [20, 20], "num_masks": 3, "ordering": ["natural", "reverse"]},
])
@pytest.mark.parametrize("dtype", [None, torch.float16])
def test_load_weights_reads_the_same_checkpoint_without_torch(tmp_path, options, dtype):
    model = small_made(**options)
    checkpoint.save(model, tmp_path, dtype=dtype)
    weights, config = checkpoint.load_weights(tmp_path)
    loaded, _ = checkpoint.load(tmp_path)
    assert (weights.D, weights.hidden_sizes, weights.num_masks) == (
        model.D, tuple(model.hidden_sizes), model.num_masks) and config["D"] == model.D
    arrays = {f"hidden.{l}.{part}": a for l, layer in enumerate(weights.hidden)
              for part, a in zip(("weight", "bias"), layer)}
    arrays.update({f"output.{part}": a for part, a in zip(("weight", "bias"), weights.output or ())})
    arrays.update({f"direct_layer.{part}": a for part, a in zip(("weight", "bias"), weights.direct or ())
                   if a is not None})
    state = loaded.state_dict()
    assert set(arrays) == {name for name in state if not name.endswith("mask")}
    for name, array in arrays.items():
        assert not array.flags.writeable
        assert array.dtype == (np.float16 if dtype else np.float32)
        assert torch.equal(torch.from_numpy(array.astype(np.float32)), state[name]), name
    for restored, original in zip(weights.mask_sets, model.mask_sets):
        np.testing.assert_array_equal(restored.order, original.order)
        np.testing.assert_array_equal(restored.connectivity(), original.connectivity())


def test_float16_save_is_half_the_size_and_close(tmp_path):
    model = small_made(D=64, hidden_sizes=[128])
    checkpoint.save(model, tmp_path / "f32")
    checkpoint.save(model, tmp_path / "f16", dtype=torch.float16)
    header, data_bytes = read_header(tmp_path / "f16" / WEIGHTS)
    assert {entry["dtype"] for name, entry in header.items() if name != "__metadata__"} == {"F16"}
    assert data_bytes * 2 == read_header(tmp_path / "f32" / WEIGHTS)[1]
    loaded, _ = checkpoint.load(tmp_path / "f16")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = binary_batch(64)
    exact, approx = model.log_prob(x, "ensemble"), loaded.log_prob(x, "ensemble")
    assert not torch.equal(exact, approx)  # it really was rounded
    torch.testing.assert_close(approx, exact, rtol=2e-3, atol=0.05)


def test_saving_again_replaces_the_checkpoint(saved):
    _, directory = saved
    other = small_made(seed=9, num_masks=1)
    checkpoint.save(other, directory)
    loaded, config = checkpoint.load(directory)
    assert loaded.num_masks == 1 and "test_nll" not in config
    assert torch.equal(loaded.hidden[0].weight, other.hidden[0].weight)


def test_metrics_cannot_overwrite_the_architecture(tmp_path):
    model = small_made()
    with pytest.raises(ValueError, match="metrics would overwrite the model's D, hidden_sizes"):
        checkpoint.save(model, tmp_path, {"D": 7, "hidden_sizes": [3], "nll": 1.0})
    assert not (tmp_path / CONFIG).exists()
    # The same values (a config handed back with new metrics) are fine.
    first = checkpoint.model_config(model)
    checkpoint.save(model, tmp_path, {**first, "nll": 1.0})
    assert checkpoint.load(tmp_path)[1]["nll"] == 1.0


# ---------------------------------------------------------------- no pickle

def test_weights_file_is_plain_safetensors(saved):
    model, directory = saved
    raw = (directory / WEIGHTS).read_bytes()
    header, data_bytes = read_header(directory / WEIGHTS)
    assert not raw.startswith((b"PK", b"\x80"))  # neither a torch.save zip nor a bare pickle
    tensors = {name: entry for name, entry in header.items() if name != "__metadata__"}
    assert set(tensors) == set(model.state_dict())
    spans = sorted(entry["data_offsets"] for entry in tensors.values())
    assert spans[0][0] == 0 and spans[-1][1] == data_bytes
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))  # contiguous, nothing hidden
    for name, entry in tensors.items():
        assert entry["dtype"] == "F32"
        assert entry["shape"] == list(model.state_dict()[name].shape)
        begin, end = entry["data_offsets"]
        assert end - begin == 4 * int(np.prod(entry["shape"]))


def test_checkpoint_module_never_unpickles(saved, monkeypatch):
    source = Path(checkpoint.__file__).read_text()
    tree = ast.parse(source)
    calls = {ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    imported = ({alias.name for node in imports for alias in node.names}
                | {node.module for node in imports if isinstance(node, ast.ImportFrom)})
    assert "torch.load" not in calls and not {"pickle", "dill", "joblib"} & imported
    assert not any(call.endswith("torch.load") for call in calls)

    def refuse(*args, **kwargs):
        raise AssertionError("checkpoint.load must not unpickle anything")
    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr("pickle.load", refuse)
    monkeypatch.setattr("pickle.loads", refuse)
    model, directory = saved
    loaded, _ = checkpoint.load(directory)
    assert torch.equal(loaded.output.weight, model.output.weight)


# ---------------------------------------------------------------- missing and broken files

def test_missing_files(saved, tmp_path):
    _, directory = saved
    assert load_error(tmp_path / "nothing-here") == (
        f"{tmp_path / 'nothing-here' / CONFIG}: missing (is this a made-viz checkpoint?)")
    (directory / WEIGHTS).unlink()
    assert load_error(directory) == f"{directory / WEIGHTS}: missing weights file"


def test_truncated_weights(saved):
    _, directory = saved
    raw = (directory / WEIGHTS).read_bytes()
    (directory / WEIGHTS).write_bytes(raw[: len(raw) // 2])
    message = load_error(directory)
    assert message.startswith(f"{directory / WEIGHTS}: unreadable safetensors file")
    assert "incomplete" in message or "not fully covered" in message
    (directory / WEIGHTS).write_bytes(raw[:5])
    assert "unreadable safetensors file" in load_error(directory)
    (directory / WEIGHTS).write_bytes(b"")
    assert "unreadable safetensors file" in load_error(directory)


def test_random_bytes_in_the_header(saved):
    _, directory = saved
    raw = bytearray((directory / WEIGHTS).read_bytes())
    raw[8:40] = np.random.default_rng(0).integers(128, 256, 32, dtype=np.uint8).tobytes()
    (directory / WEIGHTS).write_bytes(bytes(raw))
    assert load_error(directory).startswith(f"{directory / WEIGHTS}: unreadable safetensors file")
    raw[:8] = struct.pack("<Q", 2**40)  # a header length far past the end of the file
    (directory / WEIGHTS).write_bytes(bytes(raw))
    assert "unreadable safetensors file" in load_error(directory)


def rewrite_header(path: Path, change) -> None:
    """Edit the JSON header of a safetensors file, keeping it the same length."""
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = change(raw[8:8 + length].decode())
    assert len(header) == length
    path.write_bytes(raw[:8] + header.encode() + raw[8 + length:])


def test_tampered_tensor_shapes(saved):
    model, directory = saved
    # Same number of values, transposed shape: safetensors accepts it, so load must check.
    rewrite_header(directory / WEIGHTS, lambda h: h.replace('"shape":[16,12]', '"shape":[12,16]'))
    assert load_error(directory) == (f"{directory / WEIGHTS}: tensor hidden.0.weight has shape"
                                     f" (12, 16), expected (16, 12)")
    checkpoint.save(model, directory)
    # A shape that no longer matches its byte range.
    rewrite_header(directory / WEIGHTS, lambda h: h.replace('"shape":[16,12]', '"shape":[16,11]'))
    assert "unreadable safetensors file" in load_error(directory)


def test_weights_with_wrong_names_dtype_or_values(saved):
    model, directory = saved
    from safetensors.torch import save_file
    state = {name: t.clone() for name, t in model.state_dict().items()}
    save_file({**state, "extra": torch.zeros(2)}, directory / WEIGHTS)
    assert "holds tensors" in load_error(directory) and "'extra'" in load_error(directory)
    save_file({**state, "output.bias": torch.zeros(12, dtype=torch.int32)}, directory / WEIGHTS)
    assert load_error(directory).endswith("tensor output.bias is not finite floating point")
    state["hidden.1.weight"][3, 4] = float("nan")
    save_file(state, directory / WEIGHTS)
    assert load_error(directory).endswith("tensor hidden.1.weight is not finite floating point")


def test_hidden_sizes_that_disagree_with_the_weights(saved):
    _, directory = saved

    def shrink(config):  # a consistent config for 9 second-layer units; the weights hold 10
        config["hidden_sizes"][1] = 9
        for mask in config["masks"]:
            mask["hidden_degrees"][1] = mask["hidden_degrees"][1][:9]
    rewrite_config(directory, shrink)
    assert load_error(directory) == (f"{directory / WEIGHTS}: tensor hidden.1.bias has shape"
                                     f" (10,), expected (9,)")


@pytest.mark.parametrize("change, message", [
    (lambda c: c.update(D="12"), "'D' must be an integer in 1..4096, got '12'"),
    (lambda c: c.update(D=12.0), "'D' must be an integer in 1..4096, got 12.0"),
    (lambda c: c.update(D=True), "'D' must be an integer in 1..4096, got True"),
    (lambda c: c.update(D=0), "'D' must be an integer in 1..4096, got 0"),
    (lambda c: c.pop("D"), "'D' must be an integer in 1..4096, got None"),
    (lambda c: c.update(D=13), "mask 0: ordering must list all 13 indices 0..12 once, got 12"),
    (lambda c: c.update(hidden_sizes="16,10"), "'hidden_sizes' must be a list of at most 8"
                                               " integers in 1..16384, got '16,10'"),
    (lambda c: c.update(hidden_sizes=[16, 0]), "in 1..16384, got [16, 0]"),
    (lambda c: c.update(hidden_sizes=[16]), "mask 0: 'hidden_degrees' must hold one list per"
                                            " hidden layer"),
    (lambda c: c.update(hidden_sizes=[16, 11]), "mask 0, hidden layer 2: need a list of 11"
                                                " degrees in 1..12, got a list of 10"),
    (lambda c: c.update(direct="yes"), "'direct' must be true or false, got 'yes'"),
    (lambda c: c.update(masks=[]), "'masks' must be a list of 1..1024 mask descriptions"),
    (lambda c: c["masks"].__setitem__(1, [1, 2]), "mask 1 is not an object"),
    (lambda c: c["masks"][2]["hidden_degrees"][0].__setitem__(4, 13),
     "mask 2, hidden layer 1: degree 13 is not a whole number in 1..12"),
    (lambda c: c["masks"][0]["hidden_degrees"][1].__setitem__(0, 0),
     "mask 0, hidden layer 2: degree 0 is not a whole number in 1..12"),
    (lambda c: c["masks"][0]["hidden_degrees"][1].__setitem__(0, "3"),
     "mask 0, hidden layer 2: degree '3' is not a whole number in 1..12"),
    (lambda c: c["masks"][1]["order"].__setitem__(0, c["masks"][1]["order"][1]),
     "mask 1: ordering: index 10 appears twice and 11 is missing; it must be a permutation"
     " of 0..11"),
    (lambda c: c["masks"][0]["order"].__setitem__(5, 12),
     "mask 0: ordering: index 12 is outside 0..11"),
    (lambda c: c["masks"][0]["order"].__setitem__(5, 1.5),
     "mask 0: 'order' must be a list of integers"),
    (lambda c: c["masks"][0].pop("order"), "mask 0: 'order' must be a list of integers"),
    (lambda c: c.update(format_version=2), "'format_version' is 2; this made-viz reads version 1"),
    (lambda c: c.update(D=4096, hidden_sizes=[16384] * 8, masks=c["masks"][:1]),
     f"1 mask(s) would need {4096 * 16384 + 16384**2 * 7 + 16384 * 4096 + 4096**2:,} bytes of"
     f" masks; the limit is {512 * 2**20:,}"),
])
def test_bad_config_names_the_field(saved, change, message):
    _, directory = saved
    rewrite_config(directory, change)
    error = load_error(directory)
    assert error.startswith(f"{directory / CONFIG}: ") and message in error, error
    assert "\n" not in error


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe\x00garbage", b"[1, 2, 3]", b"",
                                     b"[" * 100_000, b'{"D": ' + b"9" * 5000 + b"}"])
def test_config_that_is_not_a_json_object(saved, content):
    _, directory = saved
    (directory / CONFIG).write_bytes(content)
    error = load_error(directory)
    assert error.startswith(f"{directory / CONFIG}: ")
    assert "not valid JSON" in error or "config is not a JSON object" in error


def test_config_is_validated_before_any_tensor_is_built(saved, monkeypatch):
    _, directory = saved
    rewrite_config(directory, lambda c: c.update(hidden_sizes=[16, "10"]))
    built = []
    monkeypatch.setattr(checkpoint, "load_file", lambda *a, **k: built.append("weights"))
    monkeypatch.setattr(checkpoint, "masks_from_degrees", lambda *a, **k: built.append("masks"))
    monkeypatch.setattr(torch.nn.Linear, "__init__",
                        lambda *a, **k: built.append("linear"))
    assert "'hidden_sizes' must be a list" in load_error(directory)
    assert built == []


# ---------------------------------------------------------------- pretrained lookup

def test_pretrained_lookup_honours_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MADE_VIZ_PRETRAINED", str(tmp_path))
    assert checkpoint.pretrained_root() == tmp_path and checkpoint.list_pretrained() == []
    with pytest.raises(CheckpointError, match=r"no pretrained model 'mnist' in .*;"
                                              r" available: none"):
        checkpoint.load_pretrained()
    first, second = small_made(), small_made(num_masks=1, seed=7)
    checkpoint.save(first, tmp_path / "mnist")
    checkpoint.save(second, tmp_path / "tiny")
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "subset.npz").write_bytes(b"")
    assert checkpoint.list_pretrained() == ["mnist", "tiny"]
    loaded, _ = checkpoint.load_pretrained()
    assert torch.equal(loaded.output.weight, first.output.weight)
    loaded, _ = checkpoint.load_pretrained("tiny")
    assert loaded.num_masks == 1 and torch.equal(loaded.output.weight, second.output.weight)
    with pytest.raises(CheckpointError) as error:
        checkpoint.load_pretrained("cifar")
    assert str(error.value) == f"no pretrained model 'cifar' in {tmp_path}; available: mnist, tiny"
    monkeypatch.setenv("MADE_VIZ_PRETRAINED", str(tmp_path / "absent"))
    assert checkpoint.list_pretrained() == []


def test_bundled_pretrained_models_load(monkeypatch):
    monkeypatch.delenv("MADE_VIZ_PRETRAINED", raising=False)
    names = checkpoint.list_pretrained()
    assert "mnist" in names
    for name in names:
        model, config = checkpoint.load_pretrained(name)
        assert model.D == config["D"] == 784 and model.num_masks == len(config["masks"])
        assert all(ms.is_autoregressive() for ms in model.mask_sets)
        assert torch.isfinite(model.log_prob(torch.zeros(2, 784), "ensemble")).all()
