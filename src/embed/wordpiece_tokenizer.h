// Copyright (c) Quiver authors.
//
// BERT's WordPiece tokenizer (Devlin et al., "BERT", NAACL 2019,
// arXiv:1810.04805; Wu et al. 2016, arXiv:1609.08144), as BERT-style
// sentence encoders (MiniLM, BGE, E5, ...) expect their input:
//
//   1. clean: drop NUL, U+FFFD and control characters; every whitespace
//      character becomes a space
//   2. put spaces around CJK ideographs (each becomes a word of its own)
//   3. split on whitespace; with `lowercase`, lower-case each word and, with
//      `strip_accents`, decompose it (NFD) and drop its combining marks
//   4. split each word before and after every punctuation character (ASCII
//      symbols !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ and Unicode category P*)
//   5. WordPiece: cut each word greedily into the longest vocabulary pieces
//      from its start, continuations prefixed "##"; a word that cannot be cut
//      completely, or is longer than max_chars_per_word, becomes [UNK]
//   6. [CLS] first, [SEP] last.

#ifndef QUIVER_EMBED_WORDPIECE_TOKENIZER_H_
#define QUIVER_EMBED_WORDPIECE_TOKENIZER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "quiver/status.h"

namespace quiver::embed {

class WordPieceTokenizer {
 public:
  struct Options {
    bool lowercase = true;
    bool strip_accents = true;
    std::string unk_token = "[UNK]";
    std::string cls_token = "[CLS]";
    std::string sep_token = "[SEP]";
    std::string pad_token = "[PAD]";
    std::size_t max_chars_per_word = 100;
  };

  /// Reads a vocab.txt: one piece per line, its id the line's 0-based index.
  /// The unk, cls, sep and pad tokens must be in it (InvalidArgument naming
  /// the missing one); NotFound when the file cannot be read.
  static Result<WordPieceTokenizer> FromVocabTxt(const std::string& path, Options options);

  /// Token ids of `utf8`, [CLS] and [SEP] included (so never fewer than 2).
  /// InvalidArgument if it is not valid UTF-8. Thread-safe (const).
  Result<std::vector<std::int32_t>> Encode(std::string_view utf8) const;

  std::int32_t pad_id() const { return pad_id_; }
  std::int32_t sep_id() const { return sep_id_; }

 private:
  /// Appends the ids of one whitespace- and punctuation-split word.
  void AddWord(const std::u32string& word, std::vector<std::int32_t>* ids) const;

  Options options_;
  std::unordered_map<std::string, std::int32_t> vocab_;
  std::int32_t unk_id_ = 0, cls_id_ = 0, sep_id_ = 0, pad_id_ = 0;
};

}  // namespace quiver::embed

#endif  // QUIVER_EMBED_WORDPIECE_TOKENIZER_H_
