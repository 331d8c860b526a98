// Copyright (c) Quiver authors.

#include "embed/unigram_tokenizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

namespace quiver::embed {

bool DecodeUtf8(std::string_view s, std::u32string* out) {
  out->clear();
  out->reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    char32_t cp = 0;
    std::size_t len = 0;
    if (b0 < 0x80) {
      cp = b0;
      len = 1;
    } else if (b0 >= 0xC2 && b0 <= 0xDF) {
      cp = b0 & 0x1F;
      len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      cp = b0 & 0x0F;
      len = 3;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      cp = b0 & 0x07;
      len = 4;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    out->push_back(cp);
    i += len;
  }
  return true;
}

Result<UnigramTokenizer> UnigramTokenizer::FromPairsJson(const std::string& path, Options options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("tokenizer vocabulary " + path + " cannot be read");
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto json = nlohmann::json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_array() || json.empty()) {
    return Status::InvalidArgument(path + ": expected a JSON array of [piece, score] pairs");
  }
  UnigramTokenizer t;
  t.options_ = std::move(options);
  t.piece_length_.assign(json.size(), 1);
  std::u32string piece;
  for (std::size_t id = 0; id < json.size(); ++id) {
    const auto& entry = json[id];
    if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string() ||
        !(entry[1].is_number() || entry[1].is_null())) {
      return Status::InvalidArgument(path + ": entry " + std::to_string(id) +
                                     " is not a [piece, score] pair");
    }
    if (!DecodeUtf8(entry[0].get_ref<const std::string&>(), &piece) || piece.empty()) {
      return Status::InvalidArgument(path + ": entry " + std::to_string(id) +
                                     " is not a non-empty UTF-8 piece");
    }
    t.piece_length_[id] = static_cast<std::uint32_t>(piece.size());
    if (static_cast<std::int32_t>(id) < t.options_.reserved_ids) continue;
    const double score = entry[1].is_null() ? 0.0 : entry[1].get<double>();
    // A piece listed twice keeps its last id (as the original's trie does).
    t.pieces_[piece] = Piece{static_cast<std::int32_t>(id), score};
    t.max_piece_length_ = std::max(t.max_piece_length_, piece.size());
  }
  if (t.options_.unk_id < 0 || static_cast<std::size_t>(t.options_.unk_id) >= json.size()) {
    return Status::InvalidArgument(path + ": unk_id " + std::to_string(t.options_.unk_id) +
                                   " is outside the vocabulary");
  }
  t.piece_length_[t.options_.unk_id] = 1;
  return t;
}

Result<std::vector<std::int32_t>> UnigramTokenizer::Encode(std::string_view utf8) const {
  std::u32string text;
  if (!DecodeUtf8(utf8, &text)) {
    return Status::InvalidArgument("is not valid UTF-8");
  }
  if (options_.nfkc || options_.lowercase) {
    int flags = UTF8PROC_STABLE;
    if (options_.nfkc) flags |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
    if (options_.lowercase) flags |= UTF8PROC_CASEFOLD;
    utf8proc_uint8_t* mapped = nullptr;
    const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(utf8.data()),
                                            static_cast<utf8proc_ssize_t>(utf8.size()), &mapped,
                                            static_cast<utf8proc_option_t>(flags));
    if (n < 0)
      return Status::InvalidArgument(std::string("is not valid UTF-8 (") + utf8proc_errmsg(n) +
                                     ")");
    std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(mapped, &std::free);
    if (!DecodeUtf8(
            std::string_view(reinterpret_cast<const char*>(mapped), static_cast<std::size_t>(n)),
            &text)) {
      return Status::Internal("utf8proc returned malformed UTF-8");
    }
  }
  std::vector<std::int32_t> ids;
  if (text.empty()) return ids;

  // Spaces become the space symbol; one is prepended.
  std::u32string symbols;
  symbols.reserve(text.size() + 1);
  if (options_.prefix_space) symbols += options_.space_symbol;
  for (char32_t c : text) {
    if (c == U' ') {
      symbols += options_.space_symbol;
    } else {
      symbols.push_back(c);
    }
  }

  // The lattice: matches[start] lists (length, id, score) by increasing length.
  const std::size_t n = symbols.size();
  struct Edge {
    std::uint32_t length;
    std::int32_t id;
    double score;
  };
  std::vector<std::vector<Edge>> starting(n);
  std::u32string key;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t longest = std::min(max_piece_length_, n - i);
    for (std::size_t len = 1; len <= longest; ++len) {
      key.assign(symbols, i, len);
      auto it = pieces_.find(key);
      if (it != pieces_.end()) {
        starting[i].push_back(
            Edge{static_cast<std::uint32_t>(len), it->second.id, it->second.score});
      }
    }
    if (starting[i].empty()) starting[i].push_back(Edge{1, options_.unk_id, 0.0});
  }

  // Forward pass: best[end] is the best total of a segmentation of
  // symbols[0, end); word[end] the id of its last piece.
  std::vector<double> best(n + 1, 0.0);
  std::vector<std::int32_t> word(n + 1, 0);
  std::vector<std::uint32_t> word_length(n + 1, 1);
  const bool energetic = options_.variant == Variant::kEnergetic;
  std::vector<bool> reached(n + 1, false);
  reached[0] = true;
  for (std::size_t end = 1; end <= n; ++end) {
    // Edges that end here, by increasing start (longest piece first).
    const std::size_t first = end > max_piece_length_ ? end - max_piece_length_ : 0;
    for (std::size_t start = first; start < end; ++start) {
      for (const Edge& e : starting[start]) {
        if (start + e.length != end) continue;
        const double total = e.score + best[start];
        const bool take = energetic ? (best[end] == 0.0 || total >= best[end])
                                    : (reached[start] && (!reached[end] || total > best[end]));
        if (take) {
          best[end] = total;
          word[end] = e.id;
          word_length[end] = e.length;
          reached[end] = true;
        }
      }
    }
  }

  // Backtrack from the end; the original steps back by the length of the
  // chosen id's piece, which is the edge's length for every id it can choose.
  std::size_t pos = n;
  while (pos > 0) {
    const std::int32_t id = word[pos];
    ids.push_back(id);
    const std::size_t step =
        energetic ? piece_length_[static_cast<std::size_t>(id)] : word_length[pos];
    pos = step > pos ? 0 : pos - step;
  }
  std::reverse(ids.begin(), ids.end());
  if (options_.merge_unknown) {
    std::vector<std::int32_t> merged;
    merged.reserve(ids.size());
    for (std::int32_t id : ids) {
      if (id == options_.unk_id && !merged.empty() && merged.back() == options_.unk_id) continue;
      merged.push_back(id);
    }
    ids.swap(merged);
  }
  return ids;
}

}  // namespace quiver::embed
