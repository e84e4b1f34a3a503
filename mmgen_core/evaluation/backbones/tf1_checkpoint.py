"""A small reader of TensorFlow 1 (V2-format) checkpoints in pure Python + NumPy — no TensorFlow.

A checkpoint ``PREFIX`` is ``PREFIX.index`` (a LevelDB-format table whose keys are variable names and
whose values are ``BundleEntryProto`` messages) plus ``PREFIX.data-0000k-of-0000n`` (raw tensor bytes).
We decode the table and the few protobuf fields we need (dtype, shape, shard, offset, size) by hand,
which is what lets the offline musicnn weights load without TensorFlow or protobuf."""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_BLOCK_TRAILER = 5  # compression type byte + crc32


# TensorFlow DataType enum -> numpy dtype (only fixed-size types; strings are not tensors of numbers)
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8,
           9: np.int64, 10: np.bool_, 17: np.uint16, 19: np.float16, 22: np.uint32, 23: np.uint64}


class CheckpointError(ValueError):
    """A checkpoint that cannot be read (missing files, corrupt table, unsupported entries)."""


@dataclass(frozen=True)
class TensorEntry:
    """Where one variable lives: dtype, shape and its byte range in a data shard."""
    dtype: np.dtype
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CheckpointError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _proto_fields(buf: bytes) -> dict[int, list]:
    """Decode one protobuf message into {field number: [values]} (varints as int, others as bytes)."""
    fields: dict[int, list] = {}
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise CheckpointError(f"unsupported protobuf wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def _block_entries(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Key/value pairs of one LevelDB block (prefix-compressed keys, restart array at the end)."""
    (n_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 - 4 * n_restarts
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        yield key, block[pos:pos + value_len]
        pos += value_len


def _read_block(data: bytes, handle: bytes) -> bytes:
    offset, pos = _varint(handle, 0)
    size, _ = _varint(handle, pos)
    if data[offset + size] != 0:
        raise CheckpointError("compressed table blocks are not supported")
    return data[offset:offset + size]


def _prefix(prefix: str | Path) -> str:
    """A checkpoint prefix; a directory means files named ``.index`` etc. inside it (musicnn's layout)."""
    p = str(prefix)
    return os.path.join(p, "") if os.path.isdir(p) else p


def read_index(prefix: str | Path) -> tuple[int, dict[str, TensorEntry]]:
    """Parse ``PREFIX.index``: the number of data shards and each variable's :class:`TensorEntry`."""
    path = Path(_prefix(prefix) + ".index")
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint index not found (give the checkpoint prefix or its folder)")
    data = path.read_bytes()
    if len(data) < _FOOTER_SIZE or struct.unpack_from("<Q", data, len(data) - 8)[0] != _TABLE_MAGIC:
        raise CheckpointError(f"{path}: not a TensorFlow checkpoint index (bad table magic)")
    footer = data[-_FOOTER_SIZE:]
    _, pos = _varint(footer, 0)  # metaindex handle: offset ...
    _, pos = _varint(footer, pos)  # ... and size (unused)
    index_block = _read_block(data, footer[pos:])
    num_shards, entries = 1, {}
    for _, handle in _block_entries(index_block):
        for key, value in _block_entries(_read_block(data, handle)):
            fields = _proto_fields(value)
            if key == b"":  # BundleHeaderProto
                num_shards = fields.get(1, [1])[0]
                if fields.get(2, [0])[0] != 0:
                    raise CheckpointError(f"{path}: big-endian checkpoints are not supported")
                continue
            name = key.decode()
            if 7 in fields:
                raise CheckpointError(f"{path}: variable {name!r} is partitioned (slices); not supported")
            dtype_id = fields.get(1, [0])[0]
            if dtype_id not in _DTYPES:
                raise CheckpointError(f"{path}: variable {name!r} has unsupported dtype enum {dtype_id}")
            dims = _proto_fields(fields[2][0]).get(2, []) if 2 in fields else []
            shape = tuple(_proto_fields(d).get(1, [0])[0] for d in dims)
            entries[name] = TensorEntry(np.dtype(_DTYPES[dtype_id]), shape, fields.get(3, [0])[0],
                                        fields.get(4, [0])[0], fields.get(5, [0])[0])
    return num_shards, entries


def load_checkpoint(prefix: str | Path, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Read a TF1 checkpoint into ``{variable name: array}`` (all variables, or only ``names``)."""
    base = _prefix(prefix)
    num_shards, entries = read_index(prefix)
    wanted = list(entries) if names is None else list(names)
    missing = [n for n in wanted if n not in entries]
    if missing:
        raise CheckpointError(f"{base}: variables not in the checkpoint: {missing[:5]}")
    shards: dict[int, np.memmap] = {}
    out = {}
    for name in wanted:
        e = entries[name]
        if e.shard not in shards:
            path = Path(f"{base}.data-{e.shard:05d}-of-{num_shards:05d}")
            if not path.exists():
                raise CheckpointError(f"{path}: checkpoint data shard not found")
            shards[e.shard] = np.memmap(path, dtype=np.uint8, mode="r")
        count = int(np.prod(e.shape, dtype=np.int64))
        if e.size != count * e.dtype.itemsize or e.offset + e.size > shards[e.shard].size:
            raise CheckpointError(f"{base}: variable {name!r} has {e.size} bytes, expected "
                                  f"{count * e.dtype.itemsize} for shape {e.shape} {e.dtype}")
        raw = np.array(shards[e.shard][e.offset:e.offset + e.size])  # a writable copy
        out[name] = raw.view(e.dtype.newbyteorder("<")).reshape(e.shape)
    return out
