#!/usr/bin/python3
"""Independent safetensors writer/reader (numpy + struct + json only) to cross-check
core/io/safetensors.cpp against the published byte format.

  safetensors_ref.py write OUT   writes the fixture tests/fixtures/model/ref.safetensors
  safetensors_ref.py read FILE   prints {"metadata": {...}, "tensors": {name: {dtype,
                                 shape, values}}} as JSON after checking the layout

The writer deliberately differs from ours: data in reverse name order and no header
padding, so tensors start at unaligned offsets.
"""
import json
import struct
import sys

import numpy as np

NUMPY = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
         "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "u1"}


def bf16_bytes(values):
    # bf16 is the upper half of an f32; the fixture values are exact in bf16.
    bits = np.asarray(values, dtype="<f4").view("<u4")
    assert np.all(bits & 0xFFFF == 0), "value not exactly representable in bf16"
    return (bits >> 16).astype("<u2").tobytes()


def fixture():
    """name -> (dtype, shape, raw bytes); values repeated in tests/model/test_safetensors.cpp."""
    t = {}
    def add(name, dtype, shape, values):
        raw = bf16_bytes(values) if dtype == "BF16" else np.asarray(values, NUMPY[dtype]).tobytes()
        t[name] = (dtype, shape, raw)
    add("f32", "F32", [2, 3], [0.5, -1.25, 3.0, 1e-3, 65504.0, -0.0])
    add("f16", "F16", [5], [1.0, -2.5, 0.333251953125, 65504.0, 2.0 ** -24])
    add("bf16", "BF16", [2, 2], [1.0, -3.140625, 0.00390625, 3.3895313892515355e38])
    add("f64", "F64", [1], [1.0 / 3.0])
    add("i64", "I64", [3], [-(2 ** 40), 0, 2 ** 62 + 1])
    add("i32", "I32", [2, 2], [1, -2, 3, -4])
    add("i8", "I8", [2], [-128, 127])
    add("u8", "U8", [3], [0, 255, 7])
    add("bool", "BOOL", [3], [1, 0, 1])
    add("scalar", "F32", [], [42.5])
    add("empty", "F32", [0, 4], [])
    return t


def write(path):
    tensors = fixture()
    header, data = {}, b""
    for name in sorted(tensors, reverse=True):
        dtype, shape, raw = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    header["__metadata__"] = {"format": "pt", "source": "safetensors_ref.py"}
    text = json.dumps(header, separators=(",", ":")).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def read(path):
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode())
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    spans = sorted((v["data_offsets"], k) for k, v in header.items())
    pos = 0
    for (b, e), name in spans:
        assert b == pos, "gap or overlap at tensor %s" % name
        pos = e
    assert pos == len(data), "tensors do not cover the data section"
    out = {}
    for name, v in header.items():
        b, e = v["data_offsets"]
        raw = data[b:e]
        if v["dtype"] == "BF16":
            vals = (np.frombuffer(raw, "<u2").astype("<u4") << 16).view("<f4")
        else:
            vals = np.frombuffer(raw, NUMPY[v["dtype"]])
        assert vals.size == int(np.prod(v["shape"], dtype=np.int64)), name
        out[name] = {"dtype": v["dtype"], "shape": v["shape"],
                     "values": [float(x) if vals.dtype.kind == "f" else int(x) for x in vals]}
    print(json.dumps({"metadata": meta, "tensors": out}))


if __name__ == "__main__":
    {"write": write, "read": read}[sys.argv[1]](sys.argv[2])
