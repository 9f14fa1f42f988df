"""NumPy's bundled OpenBLAS thread count, set at run time (what threadpoolctl does)."""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np


def openblas_threads():
    """numpy's bundled OpenBLAS thread controls (get, set), or None when not found."""
    pattern = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "*openblas*.so*")
    for path in glob.glob(pattern):
        lib = ctypes.CDLL(path)  # already loaded by numpy: this returns the same library
        for prefix in ("scipy_openblas", "openblas"):
            get = getattr(lib, f"{prefix}_get_num_threads64_", None) or getattr(
                lib, f"{prefix}_get_num_threads", None)
            set_ = getattr(lib, f"{prefix}_set_num_threads64_", None) or getattr(
                lib, f"{prefix}_set_num_threads", None)
            if get is not None and set_ is not None:
                get.restype = ctypes.c_int
                return get, set_
    return None


def set_openblas_threads(n: int) -> bool:
    """Set OpenBLAS's thread count for the whole process; False when it cannot be found."""
    controls = openblas_threads()
    if controls is None:
        return False
    controls[1](ctypes.c_int(n))
    return True
