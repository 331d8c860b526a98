// Copyright (c) Quiver authors.

#include "collection/fusion.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

namespace quiver::fusion {
namespace {

constexpr float kNoDistance = std::numeric_limits<float>::quiet_NaN();

/// Accumulates each key's fused score. The vector side is added first and
/// the text side second for every key, so that a key's score is the same sum
/// whichever list ranks it where (IEEE addition is commutative: 1/61 + 1/62
/// and 1/62 + 1/61 are the same double, and the tie is broken by key).
class Accumulator {
 public:
  explicit Accumulator(std::size_t expected) { fused_.reserve(expected); }

  /// Adds the vector side's contribution of `key`; false if `key` was seen
  /// in the vector side already (a repeated key counts once).
  bool AddVector(Key key, float distance, double contribution) {
    auto [it, inserted] = fused_.try_emplace(key, Entry{contribution, distance, true, false});
    return inserted;
  }

  bool AddText(Key key, double contribution) {
    auto [it, inserted] = fused_.try_emplace(key, Entry{0.0, kNoDistance, false, false});
    if (it->second.text) return false;
    it->second.text = true;
    it->second.score += contribution;
    return true;
  }

  /// The best `k`, by descending score, then ascending key.
  std::vector<Fused> Top(std::size_t k) const {
    std::vector<Fused> out;
    out.reserve(fused_.size());
    for (const auto& [key, entry] : fused_) out.push_back({key, entry.score, entry.distance});
    auto better = [](const Fused& a, const Fused& b) {
      return a.score != b.score ? a.score > b.score : a.key < b.key;
    };
    if (out.size() > k) {
      std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(k), out.end(),
                        better);
      out.resize(k);
    } else {
      std::sort(out.begin(), out.end(), better);
    }
    return out;
  }

 private:
  struct Entry {
    double score;
    float distance;
    bool vector;
    bool text;
  };
  std::unordered_map<Key, Entry> fused_;
};

}  // namespace

std::vector<Fused> ReciprocalRank(const std::vector<VectorCandidate>& vector_side,
                                  const std::vector<TextCandidate>& text_side, std::size_t rrf_k,
                                  std::size_t k) {
  Accumulator fused(vector_side.size() + text_side.size());
  const double constant = static_cast<double>(rrf_k);
  // Ranks count the distinct keys before, so a repeated key shifts nothing.
  std::size_t rank = 0;
  for (const VectorCandidate& c : vector_side) {
    if (fused.AddVector(c.key, c.distance, 1.0 / (constant + static_cast<double>(rank + 1)))) {
      ++rank;
    }
  }
  rank = 0;
  for (const TextCandidate& c : text_side) {
    if (fused.AddText(c.key, 1.0 / (constant + static_cast<double>(rank + 1)))) ++rank;
  }
  return fused.Top(k);
}

std::vector<Fused> Weighted(const std::vector<VectorCandidate>& vector_side,
                            const std::vector<TextCandidate>& text_side, double vector_weight,
                            std::size_t k) {
  Accumulator fused(vector_side.size() + text_side.size());
  if (!vector_side.empty()) {
    const auto [lo, hi] = std::minmax_element(
        vector_side.begin(), vector_side.end(),
        [](const VectorCandidate& a, const VectorCandidate& b) { return a.distance < b.distance; });
    const double min_distance = lo->distance;
    const double range = static_cast<double>(hi->distance) - min_distance;
    for (const VectorCandidate& c : vector_side) {
      const double normalized =
          range > 0 ? (hi->distance - static_cast<double>(c.distance)) / range : 1.0;
      fused.AddVector(c.key, c.distance, vector_weight * normalized);
    }
  }
  if (!text_side.empty()) {
    const auto [lo, hi] = std::minmax_element(
        text_side.begin(), text_side.end(),
        [](const TextCandidate& a, const TextCandidate& b) { return a.score < b.score; });
    const double range = hi->score - lo->score;
    for (const TextCandidate& c : text_side) {
      const double normalized = range > 0 ? (c.score - lo->score) / range : 1.0;
      fused.AddText(c.key, (1.0 - vector_weight) * normalized);
    }
  }
  return fused.Top(k);
}

}  // namespace quiver::fusion
