#!/usr/bin/python3
"""Build an English text retrieval set from WordNet 3.0 (Debian's wordnet-base).

Documents are WordNet's definitions, queries are WordNet's own example
sentences: "which definition is this sentence an example of?". Every synset
(concept) of /usr/share/wordnet/data.{noun,verb,adj,adv} is one document:

  id        "<pos>.<offset>", e.g. "verb.00022316" (pos: noun, verb, adj, adv;
            adjective satellites are adj)
  text      the gloss's definition: the gloss before its first `; "`, e.g.
            "cause to be calm or quiet as by administering a sedative to"
  metadata  {"pos": "verb", "lemma": "sedate"} (the synset's first word form,
            underscores as spaces, adjective markers such as "(a)" removed)

With --documents entry, a document is instead the synset as a dictionary
entry: its word forms, then its definition ("sedate, calm, tranquilize,
tranquillize, tranquillise: cause to be calm or quiet as by administering a
sedative to"), written to data/wordnet-entry. Definitions alone rarely contain
the word they define (about 1 in 9 of the sampled queries' definitions do), so
only entries let the word in an example sentence match its document
lexically. Queries and ids are the same in both variants.

Queries are the quoted example sentences of the glosses ("The patient must be
sedated before the operation"); each is relevant to exactly its own synset's
definition. Two refinements keep that judgement true: an example sentence that
occurs in more than one synset's gloss is ambiguous and is not used, and when
another synset has the very same definition text, its id is relevant too (the
two documents are indistinguishable; the benchmark counts the first one found).

An example sentence usually contains the word it illustrates (the synset's
lemma or a synonym, often inflected: "sedated"), which the definition itself
rarely contains. So a second query file masks it: every word form of the
synset's lemmas (WordNet's own inflection rules and exception lists, plus
doubled final consonants) is replaced by "___", as in a cloze test:
"The patient must be ___ before the operation". Both files hold the same
queries in the same order. Only examples that keep at least one word after
masking are eligible.

Writes (deterministic: documents sorted by id, queries a seeded sample sorted
by their synset id and text):

  data/wordnet/corpus.jsonl          {"id", "text", "metadata"} per document
  data/wordnet/queries.jsonl         {"query", "relevant": [ids]}
  data/wordnet/queries_masked.jsonl  the same queries with the lemma masked
  data/wordnet/meta.json             counts and parameters

  /usr/bin/python3 bench/prepare_wordnet.py [--wordnet /usr/share/wordnet]
      [--documents definition|entry] [--out data/wordnet] [--queries 5000] [--seed 20261202]

Needs Debian's wordnet-base package (scripts/setup.sh installs it).
"""

import argparse
import collections
import json
import os
import random
import re
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POS_FILES = ("noun", "verb", "adj", "adv")
MASK = "___"

# WordNet's morphy detachment rules (wn morph.c), all parts of speech at once:
# masking should rather catch too much than too little.
DETACH = (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
          ("men", "man"), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""),
          ("ing", "e"), ("ing", ""), ("er", ""), ("est", ""), ("er", "e"), ("est", "e"),
          ("ied", "y"), ("ier", "y"), ("iest", "y"), ("ily", "y"), ("ly", ""), ("'s", ""),
          ("s'", "s"))
# Words of a sentence; hyphenated compounds are several words ("star-studded").
WORD = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z0-9]+)*")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--wordnet", default="/usr/share/wordnet",
                   help="directory of WordNet 3.0's data.* and *.exc files (wordnet-base)")
    p.add_argument("--documents", choices=("definition", "entry"), default="definition",
                   help="document text: the definition, or 'word, synonyms: definition'")
    p.add_argument("--out", default=None,
                   help="output directory (default data/wordnet, data/wordnet-entry for entries)")
    p.add_argument("--queries", type=int, default=5000,
                   help="queries sampled from the eligible example sentences (0 = all)")
    p.add_argument("--seed", type=int, default=20261202)
    return p.parse_args()


def read_exceptions(wordnet):
    """inflected form -> set of base forms, from every <pos>.exc file."""
    bases = collections.defaultdict(set)
    for pos in POS_FILES:
        with open(os.path.join(wordnet, pos + ".exc"), encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2:
                    bases[parts[0].lower()].update(b.lower() for b in parts[1:])
    return bases


def base_forms(token, exceptions):
    """Every form `token` (lower case) may be an inflection of, itself included."""
    forms = {token}
    forms |= exceptions.get(token, set())
    for suffix, replacement in DETACH:
        if token.endswith(suffix) and len(token) > len(suffix) + 1:
            stem = token[: -len(suffix)]
            forms.add(stem + replacement)
            # running -> run, stopped -> stop, bigger -> big
            if replacement == "" and len(stem) >= 3 and stem[-1] == stem[-2]:
                forms.add(stem[:-1])
    return forms


def parse_synsets(wordnet):
    """Yields (pos, offset, lemmas, gloss) for every synset of the four data files."""
    for pos in POS_FILES:
        with open(os.path.join(wordnet, "data." + pos), encoding="utf-8") as f:
            for line in f:
                if line.startswith("  "):  # the licence header
                    continue
                head, _, gloss = line.partition(" | ")
                fields = head.split()
                offset, word_count = fields[0], int(fields[3], 16)
                lemmas = []
                for i in range(word_count):
                    word = fields[4 + 2 * i]
                    word = re.sub(r"\((a|p|ip)\)$", "", word)  # adjective position markers
                    lemmas.append(word.replace("_", " "))
                yield pos, offset, lemmas, gloss.strip()


def split_gloss(gloss):
    """(definition, [example sentences]) of a gloss."""
    cut = gloss.find('; "')
    if gloss.startswith('"'):
        cut = 0
    if cut < 0:
        return gloss.strip(), []
    definition = gloss[:cut].strip().rstrip(";").strip()
    examples = [e.strip() for e in re.findall(r'"([^"]*)"', gloss[cut:])]
    return definition, [e for e in examples if e]


def mask(sentence, lemmas, exceptions):
    """The sentence with every occurrence of a lemma's word forms replaced by MASK,
    and whether anything was masked. Multi-word lemmas ("perk up") match as a
    phrase whose words may each be inflected ("perked up"), hyphenated ones
    likewise ("dead-on"); a part of a compound is masked alone ("star-___")."""
    tokens = [(m.start(), m.end(), m.group(0).lower()) for m in WORD.finditer(sentence)]
    forms = [base_forms(t[2], exceptions) for t in tokens]
    targets = []
    for lemma in lemmas:
        words = [w for w in re.split(r"[\s\-]+", lemma.lower()) if w]
        if words:
            targets.append(words)
    spans = []
    i = 0
    while i < len(tokens):
        matched = 0
        for words in sorted(targets, key=len, reverse=True):
            n = len(words)
            if i + n <= len(tokens) and all(words[j] in forms[i + j] for j in range(n)):
                matched = n
                break
        if matched:
            spans.append((tokens[i][0], tokens[i + matched - 1][1]))
            i += matched
        else:
            i += 1
    if not spans:
        return sentence, False
    out, last = [], 0
    for start, end in spans:
        out.append(sentence[last:start])
        out.append(MASK)
        last = end
    out.append(sentence[last:])
    return "".join(out), True


def contains_lemma(text, lemmas, exceptions):
    return mask(text, lemmas, exceptions)[1]


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=False) + "\n")


def main():
    args = parse_args()
    if args.out is None:
        args.out = os.path.join(REPO_ROOT, "data",
                                "wordnet" if args.documents == "definition" else "wordnet-entry")
    if not os.path.exists(os.path.join(args.wordnet, "data.noun")):
        sys.exit(f"error: no WordNet data in {args.wordnet} (apt-get install wordnet-base)")
    exceptions = read_exceptions(args.wordnet)

    docs = []  # (id, definition, pos, lemmas)
    examples = []  # (doc id, sentence)
    no_definition = 0
    for pos, offset, lemmas, gloss in parse_synsets(args.wordnet):
        definition, sentences = split_gloss(gloss)
        doc_id = f"{pos}.{offset}"
        if not definition:
            no_definition += 1
            continue
        docs.append((doc_id, definition, pos, lemmas))
        examples.extend((doc_id, s) for s in sentences)
    docs.sort()
    by_id = {d[0]: d for d in docs}

    def text(doc):
        if args.documents == "entry":
            return ", ".join(dict.fromkeys(doc[3])) + ": " + doc[1]
        return doc[1]

    # Identical documents are the same document as far as retrieval can tell.
    ids_of_text = collections.defaultdict(list)
    for doc in docs:
        ids_of_text[text(doc)].append(doc[0])
    # An example sentence used by several synsets has no single right answer.
    synsets_of_example = collections.defaultdict(set)
    for doc_id, sentence in examples:
        synsets_of_example[sentence].add(doc_id)

    eligible = []
    ambiguous = no_word_left = with_lemma = 0
    seen = set()
    for doc_id, sentence in sorted(examples):
        if (doc_id, sentence) in seen:
            continue
        seen.add((doc_id, sentence))
        if len(synsets_of_example[sentence]) > 1:
            ambiguous += 1
            continue
        masked, had_lemma = mask(sentence, by_id[doc_id][3], exceptions)
        if not WORD.search(masked.replace(MASK, " ")):
            no_word_left += 1
            continue
        with_lemma += had_lemma
        eligible.append((doc_id, sentence, masked, had_lemma))

    sample = eligible
    if args.queries and args.queries < len(eligible):
        sample = sorted(random.Random(args.seed).sample(eligible, args.queries))
    queries, masked_queries = [], []
    shared_definition = sampled_with_lemma = definition_has_lemma = 0
    for doc_id, sentence, masked, had_lemma in sample:
        relevant = sorted(ids_of_text[text(by_id[doc_id])])
        relevant.remove(doc_id)
        relevant = [doc_id] + relevant  # its own synset first
        shared_definition += len(relevant) > 1
        sampled_with_lemma += had_lemma
        definition_has_lemma += contains_lemma(by_id[doc_id][1], by_id[doc_id][3], exceptions)
        queries.append({"query": sentence, "relevant": relevant})
        masked_queries.append({"query": masked, "relevant": relevant})

    os.makedirs(args.out, exist_ok=True)
    write_jsonl(os.path.join(args.out, "corpus.jsonl"),
                ({"id": d[0], "text": text(d), "metadata": {"pos": d[2], "lemma": d[3][0]}}
                 for d in docs))
    write_jsonl(os.path.join(args.out, "queries.jsonl"), queries)
    write_jsonl(os.path.join(args.out, "queries_masked.jsonl"), masked_queries)

    per_pos = collections.Counter(d[2] for d in docs)
    meta = {
        "source": "WordNet 3.0 (" + args.wordnet + ")",
        "documents_are": args.documents,
        "documents": len(docs),
        "documents_per_pos": dict(sorted(per_pos.items())),
        "synsets_without_definition": no_definition,
        "distinct_documents": len(ids_of_text),
        "example_sentences": len(examples),
        "examples_ambiguous_dropped": ambiguous,
        "examples_nothing_left_after_masking_dropped": no_word_left,
        "eligible_examples": len(eligible),
        "eligible_with_lemma_masked": with_lemma,
        "queries": len(queries),
        "queries_seed": args.seed,
        "queries_with_lemma_masked": sampled_with_lemma,
        "queries_whose_definition_contains_a_lemma_form": definition_has_lemma,
        "queries_with_more_than_one_relevant_id": shared_definition,
        "mean_definition_words": round(sum(len(WORD.findall(d[1])) for d in docs) / len(docs), 2),
        "mean_query_words": round(sum(len(WORD.findall(q["query"])) for q in queries)
                                  / max(1, len(queries)), 2),
    }
    with open(os.path.join(args.out, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    for key, value in meta.items():
        print(f"{key}: {value}")
    print(f"wrote {args.out}/corpus.jsonl, queries.jsonl, queries_masked.jsonl, meta.json")


if __name__ == "__main__":
    main()
