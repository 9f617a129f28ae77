"""The fast header scan agrees with the gguf package's reader, and refuses damaged files."""

import gguf
import pytest

from clave_lite.formats.gguf_header import ArrayInfo, HeaderError, read_header
from support.tiny_models import smollm2_file


@pytest.mark.slow  # seconds to minutes on 2 cores: left out of the quick loop
def test_matches_gguf_reader_on_a_shipped_model():
    path = smollm2_file()
    ours, theirs = read_header(path), gguf.GGUFReader(str(path))
    assert [t.name for t in ours.tensors] == [t.name for t in theirs.tensors]
    for mine, ref in zip(ours.tensors, theirs.tensors):
        assert ours.data_start + mine.offset == ref.data_offset
        assert mine.n_bytes == ref.n_bytes and mine.type == ref.tensor_type
    assert set(ours.metadata) == {k for k in theirs.fields if not k.startswith("GGUF.")}
    for key, value in ours.metadata.items():
        expected = theirs.fields[key].contents()
        if isinstance(value, ArrayInfo):
            assert value.length == len(expected), key
        else:
            assert value == pytest.approx(expected) if isinstance(value, float) else value == expected, key
    assert ours.array_length("tokenizer.ggml.tokens") == 49152


@pytest.mark.parametrize("cut", [10, 30, 1000, 200_000, -1000])
def test_truncated_copies_are_refused(tmp_path, cut):
    data = smollm2_file().read_bytes()
    damaged = tmp_path / "cut.gguf"
    damaged.write_bytes(data[:cut])
    with pytest.raises(HeaderError):
        read_header(damaged)


def test_foreign_bytes_are_refused(tmp_path):
    foreign = tmp_path / "x.gguf"
    foreign.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(HeaderError, match="magic"):
        read_header(foreign)
