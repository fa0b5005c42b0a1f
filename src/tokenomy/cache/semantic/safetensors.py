"""Read a `.safetensors` file into numpy arrays, without the `safetensors` or `torch` packages.

The format is an 8-byte little-endian header length, a JSON header naming each tensor's
dtype, shape and byte range, then the raw little-endian data.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}


def read_safetensors(path: Path) -> dict[str, NDArray[np.generic]]:
    data = path.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    out: dict[str, NDArray[np.generic]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        # A copy, so each tensor is aligned and the file's bytes can be freed.
        raw = np.frombuffer(
            data,
            dtype=np.dtype(dtype).newbyteorder("<"),
            offset=base + start,
            count=(end - start) // np.dtype(dtype).itemsize,
        )
        out[name] = raw.reshape(info["shape"]).astype(dtype, copy=True)
    return out
