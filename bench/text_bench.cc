// Copyright (c) Quiver authors.
//
// Text in Quiver, measured in one run on a real English retrieval set
// (WordNet 3.0: definitions as documents, example sentences as queries; made
// by bench/prepare_wordnet.py). See docs/benchmarks.md, "Text: embedding,
// full-text and hybrid retrieval". Sections (--sections, all by default):
//
//   embed   the local embedder alone (use-lite, ONNX Runtime): texts/s at
//           batch 32 on 1 and on 2 intra-op threads, interleaved rounds, over
//           --embed-texts definitions spread over the corpus
//   import  the whole corpus into a fresh store, end to end: text-only records
//           in batches of --batch, embedded by Upsert (use-lite, truncating
//           texts over its 128 tokens), SQLite commit and HNSW insert; the
//           share of the time spent embedding is measured by a wrapper
//   query   every query of every --queries file, one SearchText call each, in
//           every mode at k: recall@k, nDCG@k (binary relevance: 1/log2(rank+1)
//           of the first relevant document), MRR@k, p50/p99 latency
//   open    a fresh process (this binary, --probe-open) opens the store and
//           runs its first searches: open, first vector search (resolves and
//           loads the model), later ones, first full-text search; and the
//           sizes of the quiver binary, ONNX Runtime and the model
//
// Queries are sentences, but SearchText's full-text side reads SQLite FTS5
// query syntax (words ANDed, punctuation is a syntax error). The benchmark
// therefore passes BM25 an OR of the sentence's distinct words (lower case,
// each quoted, stopwords dropped unless --stopwords off): "fulltext". The
// library's hybrid mode takes one string for both sides, so "hybrid" gets
// that same OR query (which the embedder then embeds as it is), while
// "client-hybrid" fuses a vector search of the sentence and a BM25 search of
// the OR query in this program, with the library's formulas (RRF 1/(rrf_k +
// rank), or min-max weighted) over the library's default candidates,
// max(4k, 50) per side. "fulltext-raw" passes the sentence to FTS5 as it is
// (what a caller would try first: punctuation is a syntax error, counted in
// the errors column) and "fulltext-and" quotes its words, which FTS5 ANDs:
// they show why the OR query is needed.
//
//   build/release/bench/quiver_bench_text [--data data/wordnet] [--help]

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "bench_util.h"
#include "quiver/embedders.h"
#include "quiver/quiver.h"

namespace quiver::bench {
namespace {

const char kUsage[] = R"(quiver_bench_text: embedding, full-text and hybrid retrieval on WordNet.

Prepare the data first:  /usr/bin/python3 bench/prepare_wordnet.py

  --data DIR            data directory (default data/wordnet)
  --corpus FILE         documents, JSONL {"id","text","metadata"} (default DATA/corpus.jsonl)
  --queries FILES       comma-separated JSONL files of {"query","relevant":[ids]}, each
                        reported separately (default DATA/queries.jsonl,DATA/queries_masked.jsonl)
  --limit-queries N     use the first N queries of each file (default 0 = all)
  --store DIR           the store to build (default $TMPDIR/quiver-text-bench; wiped first)
  --reuse-store         skip the import: query the store already in --store
  --keep-store          do not delete the store at the end
  --threads N           ONNX Runtime threads of the store's embedder, for import and
                        queries (default 2; 0 = ONNX Runtime's default)
  --embed-texts N       texts of the embedder-alone measurement (default 2000)
  --embed-threads LIST  thread counts it compares (default 1,2)
  --embed-rounds N      interleaved rounds per thread count; the median is reported (default 3)
  --batch N             records per Upsert in the import (default 1000)
  --k N                 results per query (default 10)
  --modes LIST          any of fulltext-raw,fulltext-and,fulltext,vector,hybrid,weighted,
                        client-hybrid,client-weighted (default all)
  --stopwords on|off    drop English stopwords from the OR query of BM25 (default on)
  --sections LIST       any of embed,import,query,open (default all)
  --self-check N        also query N definitions with their own text, which must find
                        themselves: a check of the pipeline (default 200; 0 = skip)
  --show N              print the relevant definition and the top 3 of vector and BM25
                        search for the first N queries of each set (default 0)
  --check-fusion N      compare the library's hybrid ranking with the formulas applied here,
                        on the first N queries of each set (default 100; 0 = skip)
  --open-runs N         fresh processes measured by the open section; median (default 3)
  --model-dir DIR       the use-lite model (default: the resolver's models directory/use-lite)
  --quiver-binary FILE  whose size is reported (default build/release/quiver)
  --help                this text
)";

struct Args {
  std::string data = "data/wordnet";
  std::string corpus;
  std::string queries;
  std::size_t limit_queries = 0;
  std::string store;
  bool reuse_store = false;
  bool keep_store = false;
  int threads = 2;
  std::size_t embed_texts = 2000;
  std::string embed_threads = "1,2";
  std::size_t embed_rounds = 3;
  std::size_t batch = 1000;
  std::size_t k = 10;
  std::string modes =
      "fulltext-raw,fulltext-and,fulltext,vector,hybrid,weighted,client-hybrid,client-weighted";
  bool stopwords = true;
  std::string sections = "embed,import,query,open";
  std::size_t open_runs = 3;
  std::string model_dir;
  std::string quiver_binary = "build/release/quiver";
  std::size_t self_check = 200;
  std::size_t show = 0;
  std::size_t check_fusion = 100;
  bool probe_open = false;  // internal: the child process of the open section
};

constexpr char kCollection[] = "wordnet";

template <typename T>
T Check(Result<T> result, const std::string& what) {
  if (!result.ok()) throw std::runtime_error(what + ": " + result.status().ToString());
  return std::move(result).value();
}

void Check(const Status& status, const std::string& what) {
  if (!status.ok()) throw std::runtime_error(what + ": " + status.ToString());
}

std::set<std::string> SplitSet(const std::string& text) {
  std::set<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) items.insert(item);
  }
  return items;
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

// --- Data --------------------------------------------------------------------------

struct Document {
  std::string id, text, metadata;
};

struct Query {
  std::string text;
  std::vector<Key> relevant;
};

std::vector<nlohmann::json> ReadJsonl(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error("cannot open " + path +
                             "\n  prepare it with: /usr/bin/python3 bench/prepare_wordnet.py");
  }
  std::vector<nlohmann::json> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  }
  return rows;
}

std::vector<Document> ReadCorpus(const std::string& path) {
  std::vector<Document> docs;
  for (const auto& row : ReadJsonl(path)) {
    docs.push_back({row.at("id").get<std::string>(), row.at("text").get<std::string>(),
                    row.contains("metadata") ? row["metadata"].dump() : std::string()});
  }
  return docs;
}

std::vector<Query> ReadQueries(const std::string& path, std::size_t limit) {
  std::vector<Query> queries;
  for (const auto& row : ReadJsonl(path)) {
    if (limit != 0 && queries.size() == limit) break;
    Query q{row.at("query").get<std::string>(), {}};
    for (const auto& id : row.at("relevant"))
      q.relevant.push_back(KeyForStringId(id.get<std::string>()));
    queries.push_back(std::move(q));
  }
  return queries;
}

// --- Full-text queries -------------------------------------------------------------

// A short English stopword list (articles, pronouns, auxiliaries, prepositions,
// conjunctions): words that an OR query would otherwise match in most documents.
const std::unordered_set<std::string>& Stopwords() {
  static const std::unordered_set<std::string> words = {
      "a",      "about", "above", "after",   "again",     "against",  "all",        "am",
      "an",     "and",   "any",   "are",     "as",        "at",       "be",         "been",
      "before", "being", "below", "between", "both",      "but",      "by",         "can",
      "could",  "did",   "do",    "does",    "doing",     "down",     "during",     "each",
      "few",    "for",   "from",  "further", "had",       "has",      "have",       "having",
      "he",     "her",   "here",  "hers",    "herself",   "him",      "himself",    "his",
      "how",    "i",     "if",    "in",      "into",      "is",       "it",         "its",
      "itself", "just",  "me",    "more",    "most",      "my",       "myself",     "no",
      "nor",    "not",   "now",   "of",      "off",       "on",       "once",       "only",
      "or",     "other", "our",   "ours",    "ourselves", "out",      "over",       "own",
      "s",      "same",  "she",   "should",  "so",        "some",     "such",       "t",
      "than",   "that",  "the",   "their",   "theirs",    "them",     "themselves", "then",
      "there",  "these", "they",  "this",    "those",     "through",  "to",         "too",
      "under",  "until", "up",    "very",    "was",       "we",       "were",       "what",
      "when",   "where", "which", "while",   "who",       "whom",     "why",        "will",
      "with",   "would", "you",   "your",    "yours",     "yourself", "yourselves"};
  return words;
}

/// The words of `text` as FTS5's unicode61 tokenizer sees them, roughly: runs
/// of ASCII letters and digits (and any non-ASCII byte), lower-cased.
std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c >= 0x80) {
      word += static_cast<char>(std::tolower(c));
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

/// `"w1" <op> "w2" ...` over the distinct words of `text`, in order; stopwords
/// dropped when asked (unless that leaves none). Empty if the text has no word.
std::string FtsQuery(const std::string& text, bool drop_stopwords, const char* op) {
  std::vector<std::string> words, kept;
  std::unordered_set<std::string> seen;
  for (std::string& w : Words(text)) {
    if (seen.insert(w).second) words.push_back(std::move(w));
  }
  for (const std::string& w : words) {
    if (!drop_stopwords || Stopwords().count(w) == 0) kept.push_back(w);
  }
  if (kept.empty()) kept = words;
  std::string query;
  for (const std::string& w : kept) {
    if (!query.empty()) query += op;
    query += '"' + w + '"';
  }
  return query;
}

// --- An embedder wrapper that counts its time ---------------------------------------

class TimedEmbedder : public Embedder {
 public:
  explicit TimedEmbedder(std::shared_ptr<Embedder> inner) : inner_(std::move(inner)) {}
  const EmbedderInfo& info() const override { return inner_->info(); }
  Status CheckText(std::string_view text) const override { return inner_->CheckText(text); }
  Result<std::vector<float>> Embed(const std::vector<std::string>& texts,
                                   EmbedPurpose purpose) override {
    const auto start = Clock::now();
    auto result = inner_->Embed(texts, purpose);
    const double s = Seconds(start);
    std::lock_guard<std::mutex> lock(mu_);
    seconds_ += s;
    texts_ += texts.size();
    return result;
  }
  double seconds() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seconds_;
  }
  std::size_t texts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return texts_;
  }

 private:
  std::shared_ptr<Embedder> inner_;
  mutable std::mutex mu_;
  double seconds_ = 0;
  std::size_t texts_ = 0;
};

std::shared_ptr<Embedder> LoadModel(const std::string& dir, int threads, bool truncate) {
  embed::OnnxOptions options;
  options.threads = threads;
  options.truncate = truncate;
  return Check(embed::LoadOnnxModel(dir, options), "loading " + dir);
}

StoreOptions OptionsWith(std::shared_ptr<Embedder> model) {
  StoreOptions options;
  options.logger = [](LogLevel level, std::string_view message) {
    if (level >= LogLevel::kWarn) fmt::print(stderr, "quiver: {}\n", message);
  };
  options.embedder_resolver = [model](
                                  const std::string& id,
                                  const std::string& version) -> Result<std::shared_ptr<Embedder>> {
    if (id != model->info().id || version != model->info().version) {
      return Status::NotFound("this benchmark knows only " + model->info().id + " " +
                              model->info().version);
    }
    return model;
  };
  return options;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

/// Nearest-rank percentile, p in (0, 1].
double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p * v.size()));
  return v[std::min(v.size(), std::max<std::size_t>(rank, 1)) - 1];
}

/// " (load average 1.23)": printed with each section, since the machine is shared.
std::string Load() { return fmt::format(" (load average {:.2f})", ReadLoadAverage().one); }

std::string Mib(std::uint64_t bytes) { return fmt::format("{:.1f} MiB", bytes / 1048576.0); }

// --- Sections ----------------------------------------------------------------------

void EmbedSection(const Args& args, const std::vector<Document>& docs) {
  const std::size_t n = std::min(args.embed_texts, docs.size());
  std::vector<std::string> texts;
  for (std::size_t i = 0; i < n; ++i) texts.push_back(docs[i * docs.size() / n].text);
  // How many definitions the model would refuse without truncation.
  std::size_t over = 0;
  {
    auto strict = LoadModel(args.model_dir, 1, false);
    for (const Document& d : docs) over += !strict->CheckText(d.text).ok();
  }
  fmt::print("\n== Embedder alone: use-lite, {} definitions (every {}th), batch 32{}\n", n,
             docs.size() / n, Load());
  fmt::print("corpus texts over the model's 128 tokens (truncated): {} of {}\n", over, docs.size());
  const std::vector<std::size_t> threads = ParseSizeList(args.embed_threads, "--embed-threads");
  std::map<std::size_t, std::shared_ptr<Embedder>> models;
  std::map<std::size_t, double> load_s;
  for (const std::size_t t : threads) {
    const auto start = Clock::now();
    models[t] = LoadModel(args.model_dir, static_cast<int>(t), true);
    load_s[t] = Seconds(start);
    // Warm-up: the first calls allocate ONNX Runtime's arenas.
    Check(models[t]->Embed({texts.begin(), texts.begin() + std::min<std::size_t>(32, n)},
                           EmbedPurpose::kDocument),
          "warm-up");
  }
  std::map<std::size_t, std::vector<double>> rates;
  for (std::size_t round = 0; round < args.embed_rounds; ++round) {
    for (const std::size_t t : threads) {
      const double cpu0 = ProcessCpuSeconds();
      const auto start = Clock::now();
      for (std::size_t first = 0; first < n; first += 32) {
        std::vector<std::string> batch(texts.begin() + first,
                                       texts.begin() + std::min(n, first + 32));
        Check(models[t]->Embed(batch, EmbedPurpose::kDocument), "Embed");
      }
      const double s = Seconds(start);
      rates[t].push_back(n / s);
      fmt::print("  round {} threads {}: {:.0f} texts/s ({:.2f} s, CPU/wall {:.2f})\n", round + 1,
                 t, n / s, s, (ProcessCpuSeconds() - cpu0) / s);
      std::fflush(stdout);
    }
  }
  fmt::print("{:<10} {:>12} {:>14} {:>12}\n", "threads", "texts/s", "vs 1 thread", "load (ms)");
  const double base = Median(rates[threads.front()]);
  for (const std::size_t t : threads) {
    fmt::print("{:<10} {:>12.0f} {:>13.2f}x {:>12.0f}\n", t, Median(rates[t]),
               Median(rates[t]) / base, 1000 * load_s[t]);
  }
  std::fflush(stdout);
}

void ImportSection(const Args& args, const std::vector<Document>& docs) {
  std::filesystem::remove_all(args.store);
  auto timed =
      std::make_shared<TimedEmbedder>(LoadModel(args.model_dir, args.threads, /*truncate=*/true));
  const double cpu0 = ProcessCpuSeconds();
  const auto start = Clock::now();
  auto store = Check(Store::Open(args.store, OptionsWith(timed)), "Store::Open");
  auto collection =
      Check(store->CreateCollection(kCollection, ConfigForEmbedder(timed->info())), "create");
  for (std::size_t first = 0; first < docs.size(); first += args.batch) {
    std::vector<Record> batch;
    for (std::size_t i = first; i < std::min(docs.size(), first + args.batch); ++i) {
      Record r;
      r.id = docs[i].id;
      r.key = KeyForStringId(r.id);
      r.text = docs[i].text;
      r.metadata = docs[i].metadata;
      batch.push_back(std::move(r));
    }
    Check(collection->Upsert(batch), "Upsert");
    if ((first / args.batch + 1) % 20 == 0) {
      fmt::print("  {} records, {:.0f} s\n", first + batch.size(), Seconds(start));
      std::fflush(stdout);
    }
  }
  const double upsert_s = Seconds(start);
  const auto close_start = Clock::now();
  collection.reset();
  Check(store->Close(), "Close");
  const double close_s = Seconds(close_start);
  const double total_s = Seconds(start);
  fmt::print("\n== Import: {} text-only records, batches of {}, use-lite on {} threads{}\n",
             docs.size(), args.batch, args.threads, Load());
  fmt::print(
      "upserts {:.1f} s + close (checkpoint) {:.1f} s = {:.1f} s: {:.0f} records/s end to end\n",
      upsert_s, close_s, total_s, docs.size() / total_s);
  fmt::print(
      "embedding {:.1f} s ({:.0f}% of the upserts, {:.0f} texts/s); the rest (SQLite "
      "with its full-text index when built, HNSW) {:.1f} s\n",
      timed->seconds(), 100 * timed->seconds() / upsert_s,
      timed->texts() / std::max(1e-9, timed->seconds()), upsert_s - timed->seconds());
  fmt::print("CPU/wall {:.2f}; store on disk {}; peak RSS {} MiB\n",
             (ProcessCpuSeconds() - cpu0) / total_s, Mib(DiskBytes(args.store)),
             PeakRssKib() / 1024);
  std::fflush(stdout);
}

struct ModeResult {
  std::size_t found = 0;
  double ndcg = 0, mrr = 0;
  std::vector<double> ms;
  std::size_t errors = 0, empty = 0;
  std::string first_error;
};

/// Ranks of a result list: 1-based position of the first relevant key in the top k, 0 if none.
std::size_t RankOf(const std::vector<Key>& keys, const std::vector<Key>& relevant, std::size_t k) {
  for (std::size_t i = 0; i < std::min(k, keys.size()); ++i) {
    if (std::find(relevant.begin(), relevant.end(), keys[i]) != relevant.end()) return i + 1;
  }
  return 0;
}

void Score(ModeResult& r, const std::vector<Key>& keys, const Query& q, std::size_t k) {
  const std::size_t rank = RankOf(keys, q.relevant, k);
  if (rank != 0) {
    ++r.found;
    r.ndcg += 1.0 / std::log2(rank + 1.0);
    r.mrr += 1.0 / rank;
  }
  if (keys.empty()) ++r.empty;
}

struct Candidate {
  Key key;
  float value;  // vector: distance (lower closer); BM25: score (higher better)
};

/// The library's fusion formulas, applied here to two candidate lists.
std::vector<Key> Fuse(const std::vector<Candidate>& vec, const std::vector<Candidate>& bm25,
                      bool weighted, std::size_t rrf_k, float vector_weight, std::size_t k) {
  std::unordered_map<Key, double> score;
  if (!weighted) {
    for (std::size_t i = 0; i < vec.size(); ++i) score[vec[i].key] += 1.0 / (rrf_k + i + 1.0);
    for (std::size_t i = 0; i < bm25.size(); ++i) score[bm25[i].key] += 1.0 / (rrf_k + i + 1.0);
  } else {
    auto add = [&](const std::vector<Candidate>& list, bool lower_better, double weight) {
      if (list.empty()) return;
      double lo = list[0].value, hi = list[0].value;
      for (const Candidate& c : list)
        lo = std::min<double>(lo, c.value), hi = std::max<double>(hi, c.value);
      for (const Candidate& c : list) {
        double norm = hi > lo ? (c.value - lo) / (hi - lo) : 1.0;
        if (lower_better) norm = hi > lo ? 1.0 - norm : 1.0;
        score[c.key] += weight * norm;
      }
    };
    for (const Candidate& c : vec) score[c.key] += 0;
    for (const Candidate& c : bm25) score[c.key] += 0;
    add(vec, true, vector_weight);
    add(bm25, false, 1.0 - vector_weight);
  }
  std::vector<std::pair<double, Key>> ranked;
  for (const auto& [key, s] : score) ranked.push_back({-s, key});
  std::sort(ranked.begin(), ranked.end());
  std::vector<Key> keys;
  for (std::size_t i = 0; i < std::min(k, ranked.size()); ++i) keys.push_back(ranked[i].second);
  return keys;
}

struct QuerySet {
  std::string name;
  std::vector<Query> queries;
};

/// Prints, for one query, the relevant definition and the top 3 of vector and BM25 search.
void Show(Collection& collection, const Query& q, const std::string& or_query) {
  fmt::print("  query: {}\n", q.text);
  auto relevant = collection.Get({q.relevant[0]});
  if (relevant.ok() && (*relevant)[0]) fmt::print("    relevant: {}\n", (*relevant)[0]->text);
  for (const TextSearchMode mode : {TextSearchMode::kVector, TextSearchMode::kFullText}) {
    TextSearchOptions o;
    o.mode = mode;
    o.search.k = 3;
    auto found = collection.SearchText({mode == TextSearchMode::kVector ? q.text : or_query}, o);
    if (!found.ok()) continue;
    for (const Match& m : (*found)[0]) {
      fmt::print(
          "    {} {}{}: {}\n", mode == TextSearchMode::kVector ? "vector  " : "fulltext",
          std::find(q.relevant.begin(), q.relevant.end(), m.key) != q.relevant.end() ? "*" : " ",
          m.id, m.text);
    }
  }
}

void QuerySection(const Args& args, const std::vector<QuerySet>& sets) {
  auto model = LoadModel(args.model_dir, args.threads, /*truncate=*/true);
  auto store = Check(Store::Open(args.store, OptionsWith(model)), "Store::Open " + args.store);
  auto collection = Check(store->GetCollection(kCollection), "collection");
  const std::uint64_t count = Check(collection->Count(), "Count");
  const std::set<std::string> modes = SplitSet(args.modes);
  const std::size_t k = args.k;
  const std::size_t candidates =
      std::min<std::size_t>(kMaxSearchK, std::max<std::size_t>(4 * k, 50));
  const std::vector<std::string> order = {"fulltext-raw",  "fulltext-and",   "fulltext",
                                          "vector",        "hybrid",         "weighted",
                                          "client-hybrid", "client-weighted"};
  bool fulltext_supported = true;
  std::string not_supported;

  for (const QuerySet& set : sets) {
    const std::vector<Query>& queries = set.queries;
    const std::string& file = set.name;
    fmt::print(
        "\n== Queries: {} ({} queries) against {} documents, k={}, one SearchText call "
        "per query, ONNX Runtime on {} threads{}\n",
        file, queries.size(), count, k, args.threads, Load());
    std::map<std::string, ModeResult> results;
    auto base_options = [&](std::size_t kk) {
      TextSearchOptions o;
      o.search.k = kk;
      o.search.include_id = true;
      o.search.include_text = false;
      o.search.include_metadata = false;
      return o;
    };
    auto call = [&](const std::string& text, const TextSearchOptions& o, ModeResult& r,
                    std::vector<Candidate>* out) -> bool {
      const auto start = Clock::now();
      auto found = collection->SearchText({text}, o);
      const double ms = 1000 * Seconds(start);
      if (!found.ok()) {
        if (found.status().code() == StatusCode::kNotSupported) {
          fulltext_supported = false;
          not_supported = found.status().ToString();
          return false;
        }
        ++r.errors;
        if (r.first_error.empty()) r.first_error = found.status().ToString();
        r.ms.push_back(ms);
        if (out) out->clear();
        return false;
      }
      r.ms.push_back(ms);
      if (out) {
        out->clear();
        for (const Match& m : (*found)[0]) {
          out->push_back({m.key, o.mode == TextSearchMode::kVector ? m.distance : m.score});
        }
      }
      return true;
    };
    auto keys_of = [](const std::vector<Candidate>& list, std::size_t kk) {
      std::vector<Key> keys;
      for (std::size_t i = 0; i < std::min(kk, list.size()); ++i) keys.push_back(list[i].key);
      return keys;
    };
    // Warm-up: caches, the model's first calls.
    for (std::size_t i = 0; i < std::min<std::size_t>(10, queries.size()); ++i) {
      ModeResult ignored;
      TextSearchOptions o = base_options(k);
      call(queries[i].text, o, ignored, nullptr);
      o.mode = TextSearchMode::kFullText;
      call(FtsQuery(queries[i].text, args.stopwords, " OR "), o, ignored, nullptr);
    }
    for (std::size_t i = 0; i < std::min(args.show, queries.size()); ++i) {
      Show(*collection, queries[i], FtsQuery(queries[i].text, args.stopwords, " OR "));
    }
    const auto start = Clock::now();
    for (std::size_t qi = 0; qi < queries.size(); ++qi) {
      const Query& q = queries[qi];
      const std::string or_query = FtsQuery(q.text, args.stopwords, " OR ");
      std::vector<Candidate> list;
      if (modes.count("fulltext-raw") && fulltext_supported) {
        TextSearchOptions o = base_options(k);
        o.mode = TextSearchMode::kFullText;
        ModeResult& r = results["fulltext-raw"];
        if (call(q.text, o, r, &list)) Score(r, keys_of(list, k), q, k);
      }
      if (modes.count("fulltext-and") && fulltext_supported) {
        TextSearchOptions o = base_options(k);
        o.mode = TextSearchMode::kFullText;
        ModeResult& r = results["fulltext-and"];
        if (call(FtsQuery(q.text, false, " "), o, r, &list)) Score(r, keys_of(list, k), q, k);
      }
      if (modes.count("fulltext") && fulltext_supported) {
        TextSearchOptions o = base_options(k);
        o.mode = TextSearchMode::kFullText;
        ModeResult& r = results["fulltext"];
        if (call(or_query, o, r, &list)) Score(r, keys_of(list, k), q, k);
      }
      if (modes.count("vector")) {
        TextSearchOptions o = base_options(k);
        ModeResult& r = results["vector"];
        if (call(q.text, o, r, &list)) Score(r, keys_of(list, k), q, k);
      }
      for (const char* name : {"hybrid", "weighted"}) {
        if (!modes.count(name) || !fulltext_supported) continue;
        TextSearchOptions o = base_options(k);
        o.mode = TextSearchMode::kHybrid;
        o.fusion =
            std::string(name) == "hybrid" ? FusionMethod::kReciprocalRank : FusionMethod::kWeighted;
        o.rrf_k = 60;
        o.vector_weight = 0.5f;
        ModeResult& r = results[name];
        if (call(or_query, o, r, &list)) Score(r, keys_of(list, k), q, k);
      }
      if ((modes.count("client-hybrid") || modes.count("client-weighted")) && fulltext_supported) {
        // One vector search of the sentence and one BM25 search of the OR query,
        // `candidates` each, timed together, fused both ways.
        ModeResult sides;
        std::vector<Candidate> vec, bm25;
        TextSearchOptions o = base_options(candidates);
        const bool ok_vec = call(q.text, o, sides, &vec);
        o.mode = TextSearchMode::kFullText;
        const bool ok_bm25 = call(or_query, o, sides, &bm25);
        const double ms = sides.ms.size() == 2 ? sides.ms[0] + sides.ms[1] : 0;
        for (const char* name : {"client-hybrid", "client-weighted"}) {
          if (!modes.count(name)) continue;
          ModeResult& r = results[name];
          if (!ok_vec || !ok_bm25) {
            ++r.errors;
            if (r.first_error.empty()) r.first_error = sides.first_error;
            continue;
          }
          const auto fuse_start = Clock::now();
          const std::vector<Key> keys =
              Fuse(vec, bm25, std::string(name) == "client-weighted", 60, 0.5f, k);
          r.ms.push_back(ms + 1000 * Seconds(fuse_start));
          Score(r, keys, q, k);
        }
      }
      if ((qi + 1) % 1000 == 0) {
        fmt::print("  {} queries, {:.0f} s\n", qi + 1, Seconds(start));
        std::fflush(stdout);
      }
    }
    fmt::print("{:<16} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7}\n", "mode",
               "recall@" + std::to_string(k), "nDCG@" + std::to_string(k), "MRR", "p50 ms",
               "p99 ms", "empty", "errors");
    for (const std::string& name : order) {
      if (!modes.count(name)) continue;
      const ModeResult& r = results[name];
      if (r.ms.empty() && r.errors == 0) {
        fmt::print("{:<16} not measured\n", name);
        continue;
      }
      const double n = static_cast<double>(queries.size());
      fmt::print("{:<16} {:>9.4f} {:>8.4f} {:>8.4f} {:>8.2f} {:>8.2f} {:>7} {:>7}\n", name,
                 r.found / n, r.ndcg / n, r.mrr / n, Percentile(r.ms, 0.5), Percentile(r.ms, 0.99),
                 r.empty, r.errors);
      if (r.errors) fmt::print("    first error: {}\n", r.first_error);
    }
    if (!fulltext_supported) {
      fmt::print("full-text and hybrid modes: not supported by this build ({})\n", not_supported);
    } else if (args.check_fusion > 0) {
      // The library's hybrid ranking against the documented formulas applied
      // here to the library's own two candidate lists of the same string.
      for (const bool weighted : {false, true}) {
        std::size_t same_order = 0, same_set = 0, n = 0;
        for (std::size_t qi = 0; qi < std::min(args.check_fusion, queries.size()); ++qi) {
          const std::string or_query = FtsQuery(queries[qi].text, args.stopwords, " OR ");
          ModeResult ignored;
          std::vector<Candidate> vec, bm25, fused;
          TextSearchOptions o = base_options(candidates);
          if (!call(or_query, o, ignored, &vec)) continue;
          o.mode = TextSearchMode::kFullText;
          if (!call(or_query, o, ignored, &bm25)) continue;
          o = base_options(k);
          o.mode = TextSearchMode::kHybrid;
          o.fusion = weighted ? FusionMethod::kWeighted : FusionMethod::kReciprocalRank;
          if (!call(or_query, o, ignored, &fused)) continue;
          const std::vector<Key> mine = Fuse(vec, bm25, weighted, 60, 0.5f, k);
          const std::vector<Key> theirs = keys_of(fused, k);
          ++n;
          same_order += mine == theirs;
          same_set += std::set<Key>(mine.begin(), mine.end()) ==
                      std::set<Key>(theirs.begin(), theirs.end());
        }
        fmt::print(
            "fusion check ({}): the library's hybrid top {} equals this program's fusion of "
            "its two candidate lists for {} of {} queries ({} as a set)\n",
            weighted ? "weighted 0.5" : "RRF k=60", k, same_order, n, same_set);
      }
    }
    std::fflush(stdout);
  }
  collection.reset();
  Check(store->Close(), "Close");
}

/// The child process of the open section: prints one line of timings.
int ProbeOpen(const Args& args) {
  const auto t0 = Clock::now();
  StoreOptions options;
  options.logger = [](LogLevel, std::string_view) {};
  options.embedder_resolver = [&args](const std::string&,
                                      const std::string&) -> Result<std::shared_ptr<Embedder>> {
    embed::OnnxOptions onnx;
    onnx.threads = args.threads;
    onnx.truncate = true;
    return embed::LoadOnnxModel(args.model_dir, onnx);
  };
  auto store = Check(Store::Open(args.store, options), "Store::Open");
  auto collection = Check(store->GetCollection(kCollection), "collection");
  const double open_ms = 1000 * Seconds(t0);
  TextSearchOptions o;
  o.search.k = args.k;
  o.search.include_text = o.search.include_metadata = false;
  auto timed = [&](const std::string& text, TextSearchMode mode) {
    o.mode = mode;
    const auto start = Clock::now();
    auto found = collection->SearchText({text}, o);
    const double ms = 1000 * Seconds(start);
    if (!found.ok()) return found.status().code() == StatusCode::kNotSupported ? -1.0 : -2.0;
    return ms;
  };
  const double first_vector =
      timed("a sentence that nobody has searched for yet", TextSearchMode::kVector);
  std::vector<double> later;
  for (int i = 0; i < 20; ++i) {
    later.push_back(timed(fmt::format("another query, number {}", i), TextSearchMode::kVector));
  }
  // The same BM25 query, cold (first in the process) and then warm.
  const std::string words = "\"water\" OR \"animal\" OR \"small\"";
  const double first_fulltext = timed(words, TextSearchMode::kFullText);
  std::vector<double> later_fulltext;
  for (int i = 0; i < 20; ++i) later_fulltext.push_back(timed(words, TextSearchMode::kFullText));
  const double second_fulltext = Median(later_fulltext);
  fmt::print(
      "open_ms={:.1f} first_vector_ms={:.1f} later_vector_ms={:.2f} "
      "first_fulltext_ms={:.2f} later_fulltext_ms={:.2f} rss_kib={}\n",
      open_ms, first_vector, Median(later), first_fulltext, second_fulltext, CurrentRssKib());
  collection.reset();
  (void)store->Close();
  return 0;
}

void OpenSection(const Args& args) {
  fmt::print("\n== Open and load: {} fresh processes (median), store {}{}\n", args.open_runs,
             args.store, Load());
  std::map<std::string, std::vector<double>> values;
  long peak = 0;
  for (std::size_t run = 0; run < args.open_runs; ++run) {
    ChildResult child = RunChildProcess(
        {SelfExecutable(), "--probe-open", "--store", args.store, "--model-dir", args.model_dir,
         "--threads", std::to_string(args.threads), "--k", std::to_string(args.k)});
    if (child.exit_code != 0) throw std::runtime_error("--probe-open failed:\n" + child.output);
    std::stringstream in(child.output);
    std::string field;
    while (in >> field) {
      const auto eq = field.find('=');
      if (eq != std::string::npos)
        values[field.substr(0, eq)].push_back(std::stod(field.substr(eq + 1)));
    }
    peak = std::max(peak, child.peak_rss_kib);
    fmt::print("  run {}: {}", run + 1, child.output);
  }
  auto ms = [&](const std::string& key) {
    const double v = Median(values[key]);
    return v < 0 ? std::string("not supported") : fmt::format("{:.1f} ms", v);
  };
  fmt::print(
      "Store::Open + GetCollection {}; first vector SearchText (loads the model) {}; "
      "later ones {}\n",
      ms("open_ms"), ms("first_vector_ms"), ms("later_vector_ms"));
  fmt::print("first full-text SearchText {}; the same query later {}; child peak RSS {} MiB\n",
             ms("first_fulltext_ms"), ms("later_fulltext_ms"), peak / 1024);
  std::string stripped = "(strip not run)";
  if (std::filesystem::exists(args.quiver_binary)) {
    const std::string copy = args.store + ".quiver-stripped";
    if (std::system(("strip -o '" + copy + "' '" + args.quiver_binary + "' 2>/dev/null").c_str()) ==
        0) {
      stripped = Mib(DiskBytes(copy)) + " stripped";
    }
    std::filesystem::remove(copy);
  }
  const std::string ort = args.model_dir + "/../../onnxruntime/lib/libonnxruntime.so.1";
  fmt::print("sizes: {} {} ({}); libonnxruntime.so.1 {}; model directory {} ({}); store {}\n",
             args.quiver_binary,
             std::filesystem::exists(args.quiver_binary) ? Mib(DiskBytes(args.quiver_binary))
                                                         : std::string("(not built)"),
             stripped, Mib(DiskBytes(ort)), args.model_dir, Mib(DiskBytes(args.model_dir)),
             Mib(DiskBytes(args.store)));
  std::fflush(stdout);
}

int Main(Args args) {
  if (args.corpus.empty()) args.corpus = args.data + "/corpus.jsonl";
  if (args.queries.empty()) {
    args.queries = args.data + "/queries.jsonl," + args.data + "/queries_masked.jsonl";
  }
  if (args.store.empty()) {
    args.store = (std::filesystem::temp_directory_path() / "quiver-text-bench").string();
  }
  if (args.model_dir.empty()) args.model_dir = embed::DefaultModelsDir() + "/use-lite";
  if (args.probe_open) return ProbeOpen(args);

  const std::set<std::string> sections = SplitSet(args.sections);
  const LoadAverage load = ReadLoadAverage();
  fmt::print("quiver_bench_text {} | {} | {} cores | load average {:.2f} {:.2f} {:.2f}\n",
             UtcTimestamp(), CpuModel(), std::thread::hardware_concurrency(), load.one, load.five,
             load.fifteen);
  std::vector<Document> docs;
  if (sections.count("embed") || sections.count("import") ||
      (sections.count("query") && args.self_check > 0)) {
    const auto start = Clock::now();
    docs = ReadCorpus(args.corpus);
    fmt::print("corpus: {} documents from {} ({:.1f} s to read)\n", docs.size(), args.corpus,
               Seconds(start));
  }
  if (sections.count("embed")) EmbedSection(args, docs);
  if (sections.count("import") && !args.reuse_store) ImportSection(args, docs);
  if (sections.count("query")) {
    std::vector<QuerySet> sets;
    if (args.self_check > 0 && !docs.empty()) {
      // A check of the pipeline, not a result: a definition must find itself.
      QuerySet self{"self-check: definitions as their own queries", {}};
      const std::size_t n = std::min(args.self_check, docs.size());
      for (std::size_t i = 0; i < n; ++i) {
        const Document& d = docs[i * docs.size() / n + docs.size() / n / 2];
        self.queries.push_back({d.text, {KeyForStringId(d.id)}});
      }
      sets.push_back(std::move(self));
    }
    docs.clear();
    docs.shrink_to_fit();
    for (const std::string& file : SplitList(args.queries)) {
      sets.push_back({file, ReadQueries(file, args.limit_queries)});
    }
    QuerySection(args, sets);
  }
  if (sections.count("open")) OpenSection(args);
  if (!args.keep_store && !args.reuse_store) std::filesystem::remove_all(args.store);
  return 0;
}

}  // namespace
}  // namespace quiver::bench

int main(int argc, char** argv) {
  quiver::bench::Args args;
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc) throw std::runtime_error(std::string(argv[i]) + " needs a value");
    return argv[++i];
  };
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string flag = argv[i];
      if (flag == "--help" || flag == "-h") {
        std::fputs(quiver::bench::kUsage, stdout);
        return 0;
      } else if (flag == "--data") {
        args.data = value(i);
      } else if (flag == "--corpus") {
        args.corpus = value(i);
      } else if (flag == "--queries") {
        args.queries = value(i);
      } else if (flag == "--limit-queries") {
        args.limit_queries = std::stoul(value(i));
      } else if (flag == "--store") {
        args.store = value(i);
      } else if (flag == "--reuse-store") {
        args.reuse_store = true;
      } else if (flag == "--keep-store") {
        args.keep_store = true;
      } else if (flag == "--threads") {
        args.threads = std::stoi(value(i));
      } else if (flag == "--embed-texts") {
        args.embed_texts = std::stoul(value(i));
      } else if (flag == "--embed-threads") {
        args.embed_threads = value(i);
      } else if (flag == "--embed-rounds") {
        args.embed_rounds = std::stoul(value(i));
      } else if (flag == "--batch") {
        args.batch = std::stoul(value(i));
      } else if (flag == "--k") {
        args.k = std::stoul(value(i));
      } else if (flag == "--modes") {
        args.modes = value(i);
      } else if (flag == "--stopwords") {
        const std::string v = value(i);
        if (v != "on" && v != "off") throw std::runtime_error("--stopwords: on or off");
        args.stopwords = v == "on";
      } else if (flag == "--sections") {
        args.sections = value(i);
      } else if (flag == "--self-check") {
        args.self_check = std::stoul(value(i));
      } else if (flag == "--check-fusion") {
        args.check_fusion = std::stoul(value(i));
      } else if (flag == "--show") {
        args.show = std::stoul(value(i));
      } else if (flag == "--open-runs") {
        args.open_runs = std::stoul(value(i));
      } else if (flag == "--model-dir") {
        args.model_dir = value(i);
      } else if (flag == "--quiver-binary") {
        args.quiver_binary = value(i);
      } else if (flag == "--probe-open") {
        args.probe_open = true;
      } else {
        std::fprintf(stderr, "unknown flag %s (see --help)\n", flag.c_str());
        return 1;
      }
    }
    return quiver::bench::Main(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
