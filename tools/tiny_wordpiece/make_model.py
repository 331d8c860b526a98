#!/usr/bin/env python3
"""Writes tests/embed/tiny-wordpiece/: a tiny BERT-shaped ONNX model, its WordPiece
vocabulary and its quiver-model.json, to test the embedder's dense input layout,
WordPiece tokenizer and mean pooling without a real model (none is reachable here).

The graph takes input_ids, attention_mask and token_type_ids (int64, [batch, tokens])
and returns last_hidden_state [batch, tokens, 4] = table[input_ids] * mask
+ token_type_ids, with table row i = (i, 1, i % 3, i / 2): a test can compute the
mean-pooled vector of any token ids by hand. Deterministic output.

    /usr/bin/python3 tools/tiny_wordpiece/make_model.py tests/embed/tiny-wordpiece
"""
import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "quick", "brown", "fox", "jump", "##s",
         "un", "##aff", "##able", ",", "!", "hello", "cafe", "漢", "字", "over", "lazy", "dog"]


def main(out):
    table = np.array([[i, 1.0, i % 3, i / 2.0] for i in range(len(VOCAB))], dtype=np.float32)
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["gathered"], axis=0),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "axis_last"], ["mask_3d"]),
        helper.make_node("Mul", ["gathered", "mask_3d"], ["masked"]),
        helper.make_node("Cast", ["token_type_ids"], ["types_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["types_f", "axis_last"], ["types_3d"]),
        helper.make_node("Add", ["masked", "types_3d"], ["last_hidden_state"]),
    ]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "tokens"])
              for n in ("input_ids", "attention_mask", "token_type_ids")]
    output = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT,
                                           ["batch", "tokens", 4])
    graph = helper.make_graph(nodes, "tiny_wordpiece", inputs, [output],
                              [numpy_helper.from_array(table, "table"),
                               numpy_helper.from_array(np.array([-1], dtype=np.int64), "axis_last")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="quiver-tests", producer_version="1")
    model.ir_version = 7
    onnx.checker.check_model(model)
    with open(f"{out}/model.onnx", "wb") as f:
        f.write(model.SerializeToString())
    with open(f"{out}/vocab.txt", "w", encoding="utf-8") as f:
        f.write("\n".join(VOCAB) + "\n")
    config = {
        "id": "tiny-wordpiece", "version": "1", "dimensions": 4, "metric": "cos",
        "model": "model.onnx", "max_tokens": 8,
        "tokenizer": {"type": "wordpiece", "vocab": "vocab.txt", "lowercase": True},
        "inputs": {"layout": "dense", "input_ids": "input_ids",
                   "attention_mask": "attention_mask", "token_type_ids": "token_type_ids",
                   "dtype": "int64"},
        "output": "last_hidden_state", "pooling": "mean", "normalize": False,
        "source": "tools/tiny_wordpiece/make_model.py (a test fixture, not a language model)",
    }
    with open(f"{out}/quiver-model.json", "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
