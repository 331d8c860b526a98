// Copyright (c) Quiver authors.

#include "embed/wordpiece_tokenizer.h"

#include <utf8proc.h>

#include <fstream>

#include "embed/unigram_tokenizer.h"  // DecodeUtf8

namespace quiver::embed {
namespace {

void AppendUtf8(char32_t c, std::string* out) {
  utf8proc_uint8_t buffer[4];
  const utf8proc_ssize_t n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(c), buffer);
  out->append(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(n));
}

std::string ToUtf8(const std::u32string& s, std::size_t begin, std::size_t end) {
  std::string out;
  for (std::size_t i = begin; i < end; ++i) AppendUtf8(s[i], &out);
  return out;
}

bool IsWhitespace(char32_t c) {
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return true;
  return utf8proc_category(static_cast<utf8proc_int32_t>(c)) == UTF8PROC_CATEGORY_ZS;
}

bool IsControl(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;  // whitespace, not control
  const auto category = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return category == UTF8PROC_CATEGORY_CC || category == UTF8PROC_CATEGORY_CF;
}

bool IsPunctuation(char32_t c) {
  // BERT counts every non-alphanumeric ASCII symbol as punctuation ("$", "^", "`").
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126)) {
    return true;
  }
  const auto category = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return category >= UTF8PROC_CATEGORY_PC && category <= UTF8PROC_CATEGORY_PO;
}

bool IsCjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/// Lower-cases `word` and, with `strip`, drops its combining marks after NFD.
std::u32string Normalize(const std::u32string& word, bool lowercase, bool strip) {
  std::u32string lowered;
  lowered.reserve(word.size());
  for (char32_t c : word) {
    lowered.push_back(
        lowercase ? static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))) : c);
  }
  if (!strip) return lowered;
  std::u32string out;
  utf8proc_int32_t buffer[32];
  for (char32_t c : lowered) {
    int last_boundclass = 0;
    const utf8proc_ssize_t n = utf8proc_decompose_char(
        static_cast<utf8proc_int32_t>(c), buffer, 32,
        static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE), &last_boundclass);
    if (n <= 0 || n > 32) {
      out.push_back(c);
      continue;
    }
    for (utf8proc_ssize_t i = 0; i < n; ++i) {
      if (utf8proc_category(buffer[i]) == UTF8PROC_CATEGORY_MN) continue;
      out.push_back(static_cast<char32_t>(buffer[i]));
    }
  }
  return out;
}

}  // namespace

Result<WordPieceTokenizer> WordPieceTokenizer::FromVocabTxt(const std::string& path,
                                                            Options options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("tokenizer vocabulary " + path + " cannot be read");
  WordPieceTokenizer t;
  t.options_ = std::move(options);
  std::string line;
  std::int32_t id = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    t.vocab_.emplace(line, id++);  // the first id of a piece listed twice wins
  }
  if (t.vocab_.empty()) return Status::InvalidArgument(path + ": the vocabulary is empty");
  auto find = [&](const std::string& token, std::int32_t* out) -> Status {
    auto it = t.vocab_.find(token);
    if (it == t.vocab_.end()) {
      return Status::InvalidArgument(path + ": the special token '" + token +
                                     "' is not in the vocabulary");
    }
    *out = it->second;
    return Status::Ok();
  };
  for (auto [token, out] :
       {std::pair{t.options_.unk_token, &t.unk_id_}, std::pair{t.options_.cls_token, &t.cls_id_},
        std::pair{t.options_.sep_token, &t.sep_id_}, std::pair{t.options_.pad_token, &t.pad_id_}}) {
    Status s = find(token, out);
    if (!s.ok()) return s;
  }
  return t;
}

void WordPieceTokenizer::AddWord(const std::u32string& word, std::vector<std::int32_t>* ids) const {
  if (word.size() > options_.max_chars_per_word) {
    ids->push_back(unk_id_);
    return;
  }
  std::vector<std::int32_t> pieces;
  std::size_t start = 0;
  while (start < word.size()) {
    std::size_t end = word.size();
    std::int32_t found = -1;
    while (end > start) {
      std::string piece;
      if (start > 0) piece.append("##");
      piece.append(ToUtf8(word, start, end));
      auto it = vocab_.find(piece);
      if (it != vocab_.end()) {
        found = it->second;
        break;
      }
      --end;
    }
    if (found < 0) {  // the word cannot be cut completely: one [UNK] for all of it
      ids->push_back(unk_id_);
      return;
    }
    pieces.push_back(found);
    start = end;
  }
  ids->insert(ids->end(), pieces.begin(), pieces.end());
}

Result<std::vector<std::int32_t>> WordPieceTokenizer::Encode(std::string_view utf8) const {
  std::u32string text;
  if (!DecodeUtf8(utf8, &text)) return Status::InvalidArgument("is not valid UTF-8");
  // Clean, and space CJK ideographs apart.
  std::u32string cleaned;
  cleaned.reserve(text.size());
  for (char32_t c : text) {
    if (c == 0 || c == 0xFFFD || IsControl(c)) continue;
    if (IsWhitespace(c)) {
      cleaned.push_back(U' ');
    } else if (IsCjk(c)) {
      cleaned += U' ';
      cleaned.push_back(c);
      cleaned += U' ';
    } else {
      cleaned.push_back(c);
    }
  }
  std::vector<std::int32_t> ids = {cls_id_};
  std::size_t i = 0;
  while (i < cleaned.size()) {
    while (i < cleaned.size() && cleaned[i] == U' ') ++i;
    std::size_t j = i;
    while (j < cleaned.size() && cleaned[j] != U' ') ++j;
    if (j == i) break;
    const std::u32string word = Normalize(cleaned.substr(i, j - i), options_.lowercase,
                                          options_.lowercase && options_.strip_accents);
    // Punctuation characters are words of their own.
    std::u32string run;
    for (char32_t c : word) {
      if (IsPunctuation(c)) {
        if (!run.empty()) AddWord(run, &ids);
        run.clear();
        AddWord(std::u32string(1, c), &ids);
      } else {
        run.push_back(c);
      }
    }
    if (!run.empty()) AddWord(run, &ids);
    i = j;
  }
  ids.push_back(sep_id_);
  return ids;
}

}  // namespace quiver::embed
