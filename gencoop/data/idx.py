"""Reading IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed.

Layout: two zero bytes, a type code, the number of dimensions ``d``, then ``d`` big-endian uint32 sizes and the
values in C order, big-endian. Compression is detected from the gzip magic bytes, not from the file name.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, decompressed when it is gzip data."""
    raw = Path(path).read_bytes()
    return gzip.decompress(raw) if raw[:2] == GZIP_MAGIC else raw


def parse_idx(data: bytes, where: str = "IDX data") -> np.ndarray:
    """The array ``(n0, n1, ...)`` stored in IDX bytes ``data`` (native byte order); ValueError if malformed."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise ValueError(f"{where}: not an IDX file (bad magic number {data[:4].hex() or 'empty'})")
    dtype, ndim = IDX_TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{where}: truncated IDX header")
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", count=ndim, offset=4))
    count = int(np.prod(shape, dtype=np.int64))
    if len(data) - header != count * dtype.itemsize:
        raise ValueError(f"{where}: IDX header says shape {shape} ({count * dtype.itemsize} bytes of data), "
                         f"file has {len(data) - header}")
    return np.frombuffer(data, dtype, count=count, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in the IDX file ``path`` (gzip or not); ValueError naming the file if it is not IDX."""
    return parse_idx(read_bytes(path), where=str(path))
