// Copyright (c) Quiver authors.
//
// A SentencePiece unigram tokenizer (Kudo, "Subword Regularization", ACL
// 2018, arXiv:1804.10959): the segmentation of a text into vocabulary pieces
// whose summed log-probability scores are highest, found by a forward pass
// over the lattice of matching pieces and a backtrack.
//
// Two variants, chosen by the model's configuration:
//   kEnergetic  the exact rules of the tokenizer that Universal Sentence
//               Encoder Lite was published with (npm @energetic-ai/embeddings
//               0.2.0), quirks included, written up in tools/use_lite/README.md
//               §Tokenizer: ">=" lets a later edge win a tie, and a best score
//               of exactly 0 counts as "nothing yet". Matching it id for id is
//               what makes the embeddings equal the original model's.
//   kStandard   a textbook Viterbi: strictly better totals win, the first
//               (longest) edge wins a tie.

#ifndef QUIVER_EMBED_UNIGRAM_TOKENIZER_H_
#define QUIVER_EMBED_UNIGRAM_TOKENIZER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "quiver/status.h"

namespace quiver::embed {

class UnigramTokenizer {
 public:
  enum class Variant : std::uint8_t { kEnergetic = 0, kStandard = 1 };

  struct Options {
    Variant variant = Variant::kEnergetic;
    /// Unicode NFKC normalization first (utf8proc).
    bool nfkc = true;
    /// Lower-case (Unicode simple case folding) after normalizing.
    bool lowercase = false;
    /// What U+0020 becomes, and what is prepended when prefix_space is set.
    std::u32string space_symbol = U"\u2581";
    bool prefix_space = true;
    /// The id of an unknown character, and whether a run of them is one id.
    std::int32_t unk_id = 0;
    bool merge_unknown = true;
    /// Ids below this are special tokens, never matched against text.
    std::int32_t reserved_ids = 0;
  };

  /// Reads a vocabulary in the "pairs" format: a JSON array of [piece, score]
  /// (score a number or null = 0); a piece's id is its index. A piece listed
  /// twice keeps its last id. InvalidArgument (naming `path` and the entry)
  /// for a malformed file, NotFound/IOError when it cannot be read.
  static Result<UnigramTokenizer> FromPairsJson(const std::string& path, Options options);

  /// Token ids of `utf8`. InvalidArgument if it is not valid UTF-8. The empty
  /// string gives no ids; any other text at least one. Not cut to a length.
  /// Thread-safe (const).
  Result<std::vector<std::int32_t>> Encode(std::string_view utf8) const;

  /// Number of pieces (the largest id + 1).
  std::size_t vocab_size() const { return piece_length_.size(); }

 private:
  struct Piece {
    std::int32_t id = 0;
    double score = 0;
  };
  Options options_;
  std::unordered_map<std::u32string, Piece> pieces_;
  /// Length in code points of each id's piece (1 for unknown and special ids).
  std::vector<std::uint32_t> piece_length_;
  std::size_t max_piece_length_ = 1;
};

/// Decodes UTF-8 into code points; false on malformed input (overlong forms,
/// surrogates, values above U+10FFFF, truncated sequences).
bool DecodeUtf8(std::string_view utf8, std::u32string* out);

}  // namespace quiver::embed

#endif  // QUIVER_EMBED_UNIGRAM_TOKENIZER_H_
