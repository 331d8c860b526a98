#!/usr/bin/python3
"""The Universal Sentence Encoder Lite tokenizer, as an executable specification.

A literal Python rendering of the rules in tools/use_lite/README.md
("Tokenizer"), which describe what @energetic-ai/embeddings@0.2.0's
SentencePiece-unigram tokenizer does, quirks included. It exists so that the
rules are checked, not just written down: check_tokenizer.py runs it and the
original JavaScript side by side on the reference sentences and on thousands
of generated strings. The C++ tokenizer can be ported from it line by line.

    /usr/bin/python3 tools/use_lite/tokenizer.py VOCAB_JSON "some text"   # prints the ids
"""

import json
import sys
import unicodedata

SPACE_SYMBOL = "\u2581"  # LOWER ONE EIGHTH BLOCK, SentencePiece's word-boundary mark
RESERVED_IDS = 6         # ids 0-5 never match text; 0 is the unknown id
UNK_ID = 0


class Tokenizer:
    def __init__(self, vocab):
        # vocab: [[piece, score], ...]; the id of a piece is its index.
        self.pieces = [p for p, _ in vocab]
        # A JSON null score counts as 0 (JavaScript: null + x == x).
        self.scores = [0.0 if s is None else float(s) for _, s in vocab]
        # Pieces from id 6 on, by text. A text that occurs more than once keeps
        # its LAST id (and that id's score).
        self.lookup = {}
        for i in range(RESERVED_IDS, len(vocab)):
            if self.pieces[i]:
                self.lookup[self.pieces[i]] = i
        self.max_len = max(len(p) for p in self.lookup)  # in code points

    def backtrack_length(self, piece_id):
        # How far the backtrack steps back for an id: the piece's length in
        # UTF-16 code units (JavaScript's String.length). Every piece of this
        # vocabulary, and the unknown piece U+FFFD (id 0), is in the BMP, so
        # this equals its number of code points.
        return sum(2 if ord(c) > 0xFFFF else 1 for c in self.pieces[piece_id])

    def encode(self, text):
        # 1. Normalization: NFKC, nothing else (no lowercasing, no trimming,
        #    no collapsing of spaces).
        text = unicodedata.normalize("NFKC", text)
        if not text:
            return []
        # 2. Spaces: every U+0020 becomes U+2581, and one U+2581 is prepended.
        #    Other whitespace (tab, newline, ...) is left as it is.
        text = SPACE_SYMBOL + text.replace(" ", SPACE_SYMBOL)
        # 3. Symbols are code points (Python str indexes by code point).
        n = len(text)

        # 4. The lattice: for every start, every piece that matches there, by
        #    increasing length; if none matches, one unknown candidate of
        #    length 1 with id 0 and score 0.
        ending_at = [[] for _ in range(n + 1)]  # end -> [(start, id, score)], by increasing start
        for start in range(n):
            found = False
            for length in range(1, min(self.max_len, n - start) + 1):
                piece_id = self.lookup.get(text[start:start + length])
                if piece_id is not None:
                    ending_at[start + length].append((start, piece_id, self.scores[piece_id]))
                    found = True
            if not found:
                ending_at[start + 1].append((start, UNK_ID, 0.0))

        # 5. Viterbi, in doubles. best[] starts at 0 and 0 also means "unset":
        #    a candidate replaces the current best when the best is exactly 0
        #    or when its score is >= the best (ties go to the later candidate,
        #    i.e. the one starting later). Candidates at an end are visited by
        #    increasing start.
        best = [0.0] * (n + 1)
        word = [0] * (n + 1)
        for end in range(1, n + 1):
            for start, piece_id, score in ending_at[end]:
                total = score + best[start]
                if best[end] == 0 or total >= best[end]:
                    best[end] = total
                    word[end] = piece_id

        # 6. Backtrack from the end, stepping back by the length of the chosen
        #    id's piece (not of the matched span; for id 0 that is 1).
        ids = []
        pos = n
        while pos > 0:
            ids.append(word[pos])
            pos -= self.backtrack_length(word[pos])
        ids.reverse()

        # 7. A run of unknown ids becomes one.
        merged = []
        for i in ids:
            if not (i == UNK_ID and merged and merged[-1] == UNK_ID):
                merged.append(i)
        return merged


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__.split("\n\n")[-1] + "\n")
        return 2
    with open(argv[1], encoding="utf-8") as f:
        tok = Tokenizer(json.load(f))
    print(json.dumps(tok.encode(argv[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
