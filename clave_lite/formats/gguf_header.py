"""A fast, read-only scan of a GGUF file's header: metadata and tensor table, no tensor data.

Why not ``gguf.GGUFReader``: it builds a numpy view per array element, which for Gemma's
262,144-token vocabulary takes 8–17 s on this machine, while scoring wants a cold start under
a second. This scan walks the same structure (GGUF v2/v3, little-endian) with ``struct`` over an
``mmap`` in ~0.2 s and keeps only what validation needs: scalar and string values, the length
of every array, and each tensor's byte range. The ``gguf`` package still supplies the type
tables (value types, quantization block sizes), so the format knowledge lives in one place.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType

SUPPORTED_ARCHS = ("gemma3", "llama")
"""Base architectures clave-lite can train, merge and score."""

_SCALARS = {
    GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b", GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h", GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f", GGUFValueType.BOOL: "<?", GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q", GGUFValueType.FLOAT64: "<d",
}
SMALL_ARRAY = 64
"""Arrays up to this many elements are kept as lists; longer ones only by length."""
MAX_NESTING = 8
"""Arrays of arrays deeper than this are damage (no model writes them), refused before they
exhaust the stack."""


class HeaderError(ValueError):
    """The bytes are not a well-formed GGUF header (damaged, truncated or foreign)."""


@dataclass(frozen=True)
class ArrayInfo:
    element_type: GGUFValueType
    length: int


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    type: GGMLQuantizationType
    offset: int  # from the start of the data section
    n_bytes: int


@dataclass
class GGUFHeader:
    version: int
    metadata: dict[str, Any] = field(default_factory=dict)
    tensors: list[TensorInfo] = field(default_factory=list)
    data_start: int = 0
    file_size: int = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    def array_length(self, key: str) -> int:
        v = self.metadata.get(key)
        return v.length if isinstance(v, ArrayInfo) else len(v) if isinstance(v, list) else 0


class _Cursor:
    def __init__(self, buf: mmap.mmap) -> None:
        self.buf, self.pos = buf, 0

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise HeaderError("the header runs past the end of the file (truncated)")
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        n = self.unpack("<Q")
        if self.pos + n > len(self.buf):
            raise HeaderError("a string runs past the end of the file (truncated)")
        raw = self.buf[self.pos:self.pos + n]
        self.pos += n
        return raw.decode("utf-8", errors="replace")

    def skip_strings(self, count: int) -> None:
        buf, pos, end = self.buf, self.pos, len(self.buf)
        for _ in range(count):
            if pos + 8 > end:
                raise HeaderError("a string array runs past the end of the file (truncated)")
            pos += 8 + struct.unpack_from("<Q", buf, pos)[0]
        if pos > end:
            raise HeaderError("a string array runs past the end of the file (truncated)")
        self.pos = pos

    def value(self, vtype: GGUFValueType, depth: int = 0) -> Any:
        if vtype == GGUFValueType.STRING:
            return self.string()
        if vtype == GGUFValueType.ARRAY:
            if depth >= MAX_NESTING:
                raise HeaderError(f"metadata arrays nested more than {MAX_NESTING} deep")
            etype, count = GGUFValueType(self.unpack("<I")), self.unpack("<Q")
            if count <= SMALL_ARRAY:
                return [self.value(etype, depth + 1) for _ in range(count)]
            if etype == GGUFValueType.STRING:
                self.skip_strings(count)
            elif etype in _SCALARS:
                self.pos += struct.calcsize(_SCALARS[etype]) * count
            else:
                raise HeaderError(f"unsupported array element type {etype.name}")
            return ArrayInfo(etype, count)
        return self.unpack(_SCALARS[vtype])


def read_header(path: str | Path) -> GGUFHeader:
    """Parse metadata and tensor table; check that every tensor lies inside the file."""
    p = Path(path)
    with p.open("rb") as fh:
        size = p.stat().st_size
        if size < 24:
            raise HeaderError("too short to be a GGUF file")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            cur = _Cursor(buf)
            if cur.unpack("<4s") != b"GGUF":
                raise HeaderError("no GGUF magic")
            header = GGUFHeader(version=cur.unpack("<I"), file_size=size)
            if header.version not in (2, 3):
                raise HeaderError(f"GGUF version {header.version} is not supported (2, 3)")
            n_tensors, n_kv = cur.unpack("<Q"), cur.unpack("<Q")
            try:
                for _ in range(n_kv):
                    key = cur.string()
                    header.metadata[key] = cur.value(GGUFValueType(cur.unpack("<I")))
                for _ in range(n_tensors):
                    name = cur.string()
                    n_dims = cur.unpack("<I")
                    if n_dims > 4:  # GGML_MAX_DIMS: a larger count is damage, not a tensor
                        raise HeaderError(f"tensor {name!r} claims {n_dims} dimensions")
                    shape = tuple(cur.unpack("<Q") for _ in range(n_dims))
                    qtype = GGMLQuantizationType(cur.unpack("<I"))
                    offset = cur.unpack("<Q")
                    block, type_size = GGML_QUANT_SIZES[qtype]
                    elements = 1
                    for d in shape:
                        elements *= d
                    header.tensors.append(TensorInfo(name, shape, qtype, offset, elements // block * type_size))
            except (ValueError, KeyError) as exc:  # unknown enum member: not a GGUF we understand
                if isinstance(exc, HeaderError):
                    raise
                raise HeaderError(f"unknown type code ({exc})") from exc
            alignment = header.metadata.get("general.alignment", 32)
            if not (isinstance(alignment, int) and not isinstance(alignment, bool) and alignment > 0
                    and alignment & (alignment - 1) == 0):
                raise HeaderError(f"general.alignment {alignment!r} is not a positive power of two")
            header.data_start = -(-cur.pos // alignment) * alignment
    for t in header.tensors:
        if header.data_start + t.offset + t.n_bytes > size:
            raise HeaderError(f"truncated: tensor {t.name} runs past the end of the file")
    return header
