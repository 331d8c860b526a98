// Copyright (c) Quiver authors.
//
// The fusion functions of hybrid search (src/collection/fusion.h), on lists
// whose fused order is worked out by hand from the formulas.

#include "collection/fusion.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace quiver::fusion {
namespace {

std::vector<Key> KeysOf(const std::vector<Fused>& fused) {
  std::vector<Key> keys;
  for (const Fused& f : fused) keys.push_back(f.key);
  return keys;
}

TEST(ReciprocalRankTest, SumsOneOverKPlusRankAcrossBothLists) {
  // Vector ranks: 10 -> 1, 20 -> 2, 30 -> 3. Text ranks: 30 -> 1, 10 -> 2, 40 -> 3.
  const std::vector<VectorCandidate> vector_side = {{10, 0.1f}, {20, 0.2f}, {30, 0.3f}};
  const std::vector<TextCandidate> text_side = {{30, 9.0}, {10, 5.0}, {40, 1.0}};
  const std::vector<Fused> fused = ReciprocalRank(vector_side, text_side, 60, 10);
  // 10: 1/61 + 1/62; 30: 1/63 + 1/61; 20: 1/62; 40: 1/63.
  ASSERT_EQ(KeysOf(fused), (std::vector<Key>{10, 30, 20, 40}));
  EXPECT_DOUBLE_EQ(fused[0].score, 1.0 / 61 + 1.0 / 62);
  EXPECT_DOUBLE_EQ(fused[1].score, 1.0 / 63 + 1.0 / 61);
  EXPECT_DOUBLE_EQ(fused[2].score, 1.0 / 62);
  EXPECT_DOUBLE_EQ(fused[3].score, 1.0 / 63);
  // The vector side's distance is kept; a key only the text side found has none.
  EXPECT_EQ(fused[0].distance, 0.1f);
  EXPECT_EQ(fused[1].distance, 0.3f);
  EXPECT_EQ(fused[2].distance, 0.2f);
  EXPECT_TRUE(std::isnan(fused[3].distance));
}

TEST(ReciprocalRankTest, EqualScoresAreOrderedByKey) {
  // 7 is first in one list and second in the other, 3 the reverse: equal sums.
  const std::vector<Fused> fused =
      ReciprocalRank({{7, 0.0f}, {3, 0.5f}}, {{3, 2.0}, {7, 1.0}}, 60, 10);
  ASSERT_EQ(fused.size(), 2u);
  EXPECT_EQ(fused[0].score, fused[1].score);
  EXPECT_EQ(KeysOf(fused), (std::vector<Key>{3, 7}));
  // And the same whichever list is which.
  EXPECT_EQ(KeysOf(ReciprocalRank({{3, 0.0f}, {7, 0.5f}}, {{7, 2.0}, {3, 1.0}}, 60, 10)),
            (std::vector<Key>{3, 7}));
}

TEST(ReciprocalRankTest, TheConstantDecidesBetweenOneTopRankAndAgreement) {
  // 1 is first in the vector list only; 2 is fourth in both lists.
  const std::vector<VectorCandidate> vector_side = {{1, 0.0f}, {5, 0.1f}, {6, 0.2f}, {2, 0.3f}};
  const std::vector<TextCandidate> text_side = {{7, 4.0}, {8, 3.0}, {9, 2.0}, {2, 1.0}};
  // k = 60: 2 scores 2/64 = 0.03125 > 1/61 = 0.0164: agreement wins.
  EXPECT_EQ(ReciprocalRank(vector_side, text_side, 60, 1)[0].key, 2u);
  // k = 1: 1 scores 1/2 > 2/5: one list's top rank wins.
  EXPECT_EQ(ReciprocalRank(vector_side, text_side, 1, 1)[0].key, 1u);
}

TEST(ReciprocalRankTest, KeepsTheBestKAndCountsARepeatedKeyOnce) {
  // 4 appears twice in the text list: its second entry is ignored and does
  // not push 6 down a rank.
  const std::vector<Fused> fused =
      ReciprocalRank({{1, 0.0f}}, {{4, 3.0}, {4, 2.0}, {6, 1.0}}, 60, 2);
  ASSERT_EQ(fused.size(), 2u);
  EXPECT_DOUBLE_EQ(fused[0].score, 1.0 / 61);
  EXPECT_DOUBLE_EQ(fused[1].score, 1.0 / 61);
  EXPECT_EQ(KeysOf(fused), (std::vector<Key>{1, 4}));  // tie at 1/61, by key
  const std::vector<Fused> all = ReciprocalRank({{1, 0.0f}}, {{4, 3.0}, {4, 2.0}, {6, 1.0}}, 60, 9);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_DOUBLE_EQ(all[2].score, 1.0 / 62);  // 6 is the second distinct key
}

TEST(ReciprocalRankTest, EmptyListsGiveTheOtherListsOrder) {
  EXPECT_TRUE(ReciprocalRank({}, {}, 60, 10).empty());
  EXPECT_EQ(KeysOf(ReciprocalRank({}, {{9, 3.0}, {2, 1.0}}, 60, 10)), (std::vector<Key>{9, 2}));
  EXPECT_EQ(KeysOf(ReciprocalRank({{9, 0.5f}, {2, 0.7f}}, {}, 60, 10)), (std::vector<Key>{9, 2}));
}

TEST(WeightedTest, CombinesMinMaxNormalizedScores) {
  // Vector distances 0.1, 0.3, 0.5 normalize to 1, 0.5, 0 (closer = 1);
  // BM25 9, 5, 1 normalize to 1, 0.5, 0.
  const std::vector<VectorCandidate> vector_side = {{1, 0.1f}, {2, 0.3f}, {3, 0.5f}};
  const std::vector<TextCandidate> text_side = {{3, 9.0}, {1, 5.0}, {4, 1.0}};
  const std::vector<Fused> fused = Weighted(vector_side, text_side, 0.5, 10);
  // 1: .5 * 1 + .5 * .5 = .75; 3: .5 * 0 + .5 * 1 = .5; 2: .5 * .5 = .25; 4: 0.
  ASSERT_EQ(KeysOf(fused), (std::vector<Key>{1, 3, 2, 4}));
  EXPECT_NEAR(fused[0].score, 0.75, 1e-7);
  EXPECT_NEAR(fused[1].score, 0.5, 1e-7);
  EXPECT_NEAR(fused[2].score, 0.25, 1e-7);
  EXPECT_EQ(fused[3].score, 0.0);
  EXPECT_TRUE(std::isnan(fused[3].distance));
  EXPECT_EQ(fused[0].distance, 0.1f);
}

TEST(WeightedTest, TheWeightMovesTheRankingFromOneSideToTheOther) {
  const std::vector<VectorCandidate> vector_side = {{1, 0.1f}, {2, 0.3f}, {3, 0.5f}};
  const std::vector<TextCandidate> text_side = {{3, 9.0}, {1, 5.0}, {4, 1.0}};
  // Weight 1: the vector order; keys missing from it tie at 0, by key.
  EXPECT_EQ(KeysOf(Weighted(vector_side, text_side, 1.0, 10)), (std::vector<Key>{1, 2, 3, 4}));
  // Weight 0: the BM25 order, then 2 (not a text match) and 4 (the lowest BM25) tie at 0.
  EXPECT_EQ(KeysOf(Weighted(vector_side, text_side, 0.0, 10)), (std::vector<Key>{3, 1, 2, 4}));
  // Weight 0.9: 3 (text 1, vector 0) falls below 2 (vector .5).
  EXPECT_EQ(KeysOf(Weighted(vector_side, text_side, 0.9, 2)), (std::vector<Key>{1, 2}));
}

TEST(WeightedTest, AListOfEqualScoresNormalizesToOne) {
  const std::vector<Fused> fused = Weighted({{5, 0.2f}, {6, 0.2f}}, {{6, 3.0}}, 0.5, 10);
  ASSERT_EQ(fused.size(), 2u);
  EXPECT_EQ(fused[0].key, 6u);
  EXPECT_DOUBLE_EQ(fused[0].score, 1.0);  // .5 * 1 + .5 * 1
  EXPECT_DOUBLE_EQ(fused[1].score, 0.5);
}

}  // namespace
}  // namespace quiver::fusion
