"""The README's Python example: python3 examples/demo.py STORE_DIR."""
import sys

import numpy as np
import quiver

with quiver.open(sys.argv[1]) as store:  # e.g. /tmp/quiver-demo
    col = store.get_or_create_collection("fruit", dims=4, metric="cos")
    col.upsert(ids=["apple", "banana", "cherry"],
               embeddings=np.array([[1, 0, 0, 0], [0.8, 0.6, 0, 0], [0, 0, 1, 0]], np.float32),
               texts=["red apple", "yellow banana", "dark cherry"],
               metadatas=[{"color": "red"}, {"color": "yellow"}, {"color": "red"}])
    res = col.query(np.array([[1, 0.1, 0, 0]], np.float32), k=2,
                    include=["ids", "texts", "metadatas"])
    print(res.keys)
    print(res.distances)
    print(res.ids, res.texts, res.metadatas)
    print(col.get(["cherry"]).embeddings, col.count())
    try:
        col.query(np.ones(4, np.float32))      # one vector, but 1-D
    except quiver.InvalidArgumentError as error:
        print(type(error).__name__, "-", error)
