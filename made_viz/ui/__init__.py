"""Streamlit pages: each reads widgets, calls the library, and draws what comes back."""


def server_torch():
    """torch, set up for a server: imported on first use, so the Masks page paints before it.

    The server's torch work is small tensors from many sessions at once: intra-op threads only
    fight over the cores (a 1x784 backward pass takes ~150 ms with 2 threads on a busy 2-core
    machine, ~3 ms with one).
    """
    import torch

    torch.set_num_threads(1)
    return torch
