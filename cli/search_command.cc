// Copyright (c) Quiver authors.
//
// `quiver search`: nearest neighbours of query vectors from a file or the
// command line, or a text search (--text: by the collection's embedding
// model, by BM25 over the record texts, or both fused), printed as tables or
// as JSON lines.
//
// Text modes that embed the query (vector, hybrid) need the collection's
// embedder, which the store resolves through StoreOptions::embedder_resolver
// (set where OpenStore builds the options); full-text search needs none.

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/command.h"
#include "cli/formats.h"

namespace quiver::cli {
namespace {

// Queries per Collection::Search call: large enough to amortize the call,
// small enough to stream a big query file.
constexpr std::size_t kQueriesPerBatch = 256;
// Characters of a match's text shown in a table row.
constexpr std::size_t kTableTextChars = 60;

struct SearchFlags {
  std::string data_dir;
  std::string collection;
  std::string file;    // queries in any supported format, or
  std::string vector;  // one query: "0.1,0.2,..."
  std::string format;  // empty = by extension
  std::size_t k = 10;
  std::size_t expansion_search = 0;  // 0 = the collection's default
  std::uint64_t limit = 0;           // 0 = every query
  bool json = false;
  std::vector<std::string> include;  // of "id", "text", "metadata"; JSON only
  std::string where;                 // filter, docs/filters.md
  std::optional<float> max_distance;
  bool rerank = false;
  std::size_t rerank_oversample = SearchOptions{}.rerank_oversample;
  std::string strategy = "auto";
  bool explain = false;
  // Text search: each --text is one query.
  std::vector<std::string> texts;
  std::string mode = "vector";   // vector, fulltext or hybrid
  std::string syntax = "plain";  // plain or fts5
  std::string fusion = "rrf";    // rrf or weighted
  std::size_t rrf_k = TextSearchOptions{}.rrf_k;
  float vector_weight = TextSearchOptions{}.vector_weight;
  std::size_t candidates = 0;  // 0 = max(4k, 50)

  bool Includes(std::string_view field) const {
    return std::find(include.begin(), include.end(), field) != include.end();
  }
};

// Parses "0.1,0.2,..." (optionally in [brackets], spaces allowed) into
// exactly `dims` finite floats. InvalidArgument naming --vector otherwise.
Result<std::vector<float>> ParseVector(std::string_view text, std::uint32_t dims) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n'; };
  auto trim = [&is_space](std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
  };
  text = trim(text);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  std::vector<float> values;
  while (!text.empty()) {
    const std::size_t comma = std::min(text.find(','), text.size());
    const std::string_view item = trim(text.substr(0, comma));
    float value = 0;
    const auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || error != std::errc() || end != item.data() + item.size() ||
        !std::isfinite(value)) {
      return Status::InvalidArgument(
          fmt::format("--vector: component {} '{}' is not a finite number", values.size(), item));
    }
    values.push_back(value);
    text.remove_prefix(std::min(comma + 1, text.size()));
  }
  if (values.size() != dims) {
    return Status::InvalidArgument(
        fmt::format("--vector has {} components, expected {} (the collection's dimensions)",
                    values.size(), dims));
  }
  return values;
}

// The queries of one search command: the --vector, or the rows of a file,
// cut at --limit.
class QuerySource {
 public:
  /// Parses --vector, or opens the query file and checks its dimensions.
  static Result<QuerySource> Open(const SearchFlags& flags, std::uint32_t dims) {
    QuerySource source;
    source.remaining_ = flags.limit > 0 ? flags.limit : std::numeric_limits<std::uint64_t>::max();
    if (!flags.vector.empty()) {
      Result<std::vector<float>> query = ParseVector(flags.vector, dims);
      if (!query.ok()) return query.status();
      source.inline_query_ = std::move(*query);
      return source;
    }
    Result<FileFormat> format = ResolveFileFormat(flags.format, flags.file);
    if (!format.ok()) return format.status();
    RecordReadOptions options;
    options.dims = dims;
    Result<RecordReader> reader = RecordReader::Open(flags.file, *format, options);
    if (!reader.ok()) return reader.status();
    source.file_.emplace(std::move(*reader));
    return source;
  }

  /// Replaces `*queries` with the next up to `max_queries` queries, row-major,
  /// and returns how many (0 at the end). Errors as RecordReader::ReadBatch.
  Result<std::size_t> Next(std::size_t max_queries, std::vector<float>* queries) {
    queries->clear();
    const auto wanted = static_cast<std::size_t>(std::min<std::uint64_t>(max_queries, remaining_));
    std::size_t count = 0;
    if (wanted > 0 && !inline_query_.empty()) {
      queries->swap(inline_query_);
      inline_query_.clear();
      count = 1;
    } else if (wanted > 0 && file_.has_value()) {
      records_.clear();
      Result<std::size_t> read = file_->ReadBatch(wanted, &records_);
      if (!read.ok()) return read.status();
      for (const Record& record : records_) {
        queries->insert(queries->end(), record.embedding.begin(), record.embedding.end());
      }
      count = *read;
    }
    remaining_ -= count;
    return count;
  }

 private:
  QuerySource() = default;

  std::vector<float> inline_query_;
  std::optional<RecordReader> file_;
  std::uint64_t remaining_ = 0;
  std::vector<Record> records_;
};

// Up to `max_chars` UTF-8 characters of `text` on one line: control
// characters become spaces, and a cut is marked with "…".
std::string TruncateForTable(std::string_view text, std::size_t max_chars) {
  std::string out;
  std::size_t chars = 0;
  for (const char c : text) {
    const bool starts_char = (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    if (starts_char && chars++ == max_chars) return out + "…";
    out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
  }
  return out;
}

void PrintMatchesTable(std::uint64_t query, const std::vector<Match>& matches) {
  std::vector<std::vector<std::string>> rows;
  for (std::size_t rank = 0; rank < matches.size(); ++rank) {
    const Match& match = matches[rank];
    rows.push_back({std::to_string(rank + 1), std::to_string(match.key),
                    fmt::format("{:.6g}", match.distance),
                    TruncateForTable(match.text, kTableTextChars)});
  }
  fmt::print("{}query {}\n", query == 0 ? "" : "\n", query);
  PrintTable({"RANK", "KEY", "DISTANCE", "TEXT"}, rows);
}

// One JSON line per query. `scored` (full-text and hybrid searches) adds
// "score"; a distance the search did not compute (NaN) is null.
void PrintMatchesJson(std::uint64_t query, const std::vector<Match>& matches,
                      const SearchFlags& flags, bool scored = false) {
  Json results = Json::array();
  for (const Match& match : matches) {
    Json result = {{"key", match.key}};
    if (scored) result["score"] = match.score;
    result["distance"] = std::isnan(match.distance) ? Json(nullptr) : Json(match.distance);
    if (flags.Includes("id")) result["id"] = match.id.empty() ? Json(nullptr) : Json(match.id);
    if (flags.Includes("text")) result["text"] = match.text;
    if (flags.Includes("metadata")) result["metadata"] = MetadataToJson(match.metadata);
    results.push_back(std::move(result));
  }
  PrintJsonLine(Json{{"query", query}, {"matches", std::move(results)}});
}

SearchOptions ToSearchOptions(const SearchFlags& flags) {
  SearchOptions options;
  options.k = flags.k;
  options.expansion_search = flags.expansion_search;
  // A table shows the text; JSON only what --include asks for.
  options.include_text = !flags.json || flags.Includes("text");
  options.include_metadata = flags.json && flags.Includes("metadata");
  options.include_id = !flags.json || flags.Includes("id");
  options.filter = flags.where;
  if (flags.max_distance) options.max_distance = *flags.max_distance;
  options.rerank = flags.rerank;
  options.rerank_oversample = flags.rerank_oversample;
  options.strategy = flags.strategy == "exact"           ? SearchStrategy::kExact
                     : flags.strategy == "filtered-hnsw" ? SearchStrategy::kFilteredHnsw
                     : flags.strategy == "hnsw"          ? SearchStrategy::kHnsw
                                                         : SearchStrategy::kAuto;
  return options;
}

TextSearchOptions ToTextSearchOptions(const SearchFlags& flags) {
  TextSearchOptions options;
  options.search = ToSearchOptions(flags);
  options.syntax = flags.syntax == "fts5" ? TextQuerySyntax::kFts5 : TextQuerySyntax::kPlain;
  options.mode = flags.mode == "fulltext" ? TextSearchMode::kFullText
                 : flags.mode == "hybrid" ? TextSearchMode::kHybrid
                                          : TextSearchMode::kVector;
  options.fusion =
      flags.fusion == "weighted" ? FusionMethod::kWeighted : FusionMethod::kReciprocalRank;
  options.rrf_k = flags.rrf_k;
  options.vector_weight = flags.vector_weight;
  options.candidates = flags.candidates;
  return options;
}

// A number of the table, or "-" for NaN (no vector distance).
std::string TableNumber(float value) {
  return std::isnan(value) ? std::string("-") : fmt::format("{:.6g}", value);
}

// Full-text and hybrid results: the score (higher is better) first.
void PrintScoredMatchesTable(std::uint64_t query, const std::vector<Match>& matches,
                             bool with_distance) {
  std::vector<std::vector<std::string>> rows;
  for (std::size_t rank = 0; rank < matches.size(); ++rank) {
    const Match& match = matches[rank];
    std::vector<std::string> row = {std::to_string(rank + 1), std::to_string(match.key),
                                    fmt::format("{:.6g}", match.score)};
    if (with_distance) row.push_back(TableNumber(match.distance));
    row.push_back(TruncateForTable(match.text, kTableTextChars));
    rows.push_back(std::move(row));
  }
  fmt::print("{}query {}\n", query == 0 ? "" : "\n", query);
  if (with_distance) {
    PrintTable({"RANK", "KEY", "SCORE", "DISTANCE", "TEXT"}, rows);
  } else {
    PrintTable({"RANK", "KEY", "SCORE", "TEXT"}, rows);
  }
}

// `quiver search --text`: one SearchText call for every --text.
int RunTextSearch(const SearchFlags& flags, const GlobalOptions& global) {
  Result<OpenedCollection> opened =
      OpenExistingCollection(flags.data_dir, flags.collection, OpenMode::kReadOnly, global);
  if (!opened.ok()) return ReportError(opened.status());
  Collection& collection = *opened->collection;
  const TextSearchOptions options = ToTextSearchOptions(flags);
  const bool scored = options.mode != TextSearchMode::kVector;
  if (flags.explain) {
    // The vector side's plan; BM25 has none to choose.
    if (options.mode == TextSearchMode::kFullText) {
      fmt::print(stderr, "plan: fulltext: BM25 over the SQLite FTS5 index, filter in SQL\n");
    } else {
      SearchOptions vector_side = options.search;
      if (options.mode == TextSearchMode::kHybrid) {
        vector_side.k = options.candidates != 0
                            ? options.candidates
                            : std::min(kMaxSearchK, std::max<std::size_t>(4 * vector_side.k, 50));
      }
      Result<SearchPlan> plan = collection.Explain(vector_side);
      if (!plan.ok()) return ReportError(plan.status());
      fmt::print(stderr, "plan: {}{}\n",
                 options.mode == TextSearchMode::kHybrid ? "vector side: " : "", plan->ToString());
    }
  }
  const auto start = std::chrono::steady_clock::now();
  Result<std::vector<std::vector<Match>>> results = collection.SearchText(flags.texts, options);
  const std::chrono::duration<double> search_time = std::chrono::steady_clock::now() - start;
  if (!results.ok()) {
    Status status = results.status();
    if (status.code() == StatusCode::kFailedPrecondition &&
        options.mode != TextSearchMode::kFullText &&
        status.message().find("embed") != std::string::npos) {
      status = Status::FailedPrecondition(status.message() +
                                          " (--mode fulltext searches the texts without a model)");
    }
    return ReportError(status.WithContext("--text"));
  }
  for (std::size_t i = 0; i < results->size(); ++i) {
    if (flags.json) {
      PrintMatchesJson(i, (*results)[i], flags, scored);
    } else if (scored) {
      PrintScoredMatchesTable(i, (*results)[i], options.mode == TextSearchMode::kHybrid);
    } else {
      PrintMatchesTable(i, (*results)[i]);
    }
  }
  const double seconds = search_time.count();
  fmt::print(stderr, "{} queries in {:.3f} s: {:.1f} queries/s (k={}, mode={}{})\n",
             results->size(), seconds,
             seconds > 0 ? static_cast<double>(results->size()) / seconds : 0.0, options.search.k,
             flags.mode, options.mode == TextSearchMode::kHybrid ? ", fusion=" + flags.fusion : "");
  return kExitOk;
}

int RunSearch(const SearchFlags& flags, const GlobalOptions& global) {
  const int sources = !flags.file.empty() + !flags.vector.empty() + !flags.texts.empty();
  if (sources != 1) {
    return ReportError(Status::InvalidArgument("give one of a QUERYFILE, --vector or --text"));
  }
  if (!flags.texts.empty()) return RunTextSearch(flags, global);
  Result<OpenedCollection> opened =
      OpenExistingCollection(flags.data_dir, flags.collection, OpenMode::kReadOnly, global);
  if (!opened.ok()) return ReportError(opened.status());
  Collection& collection = *opened->collection;
  Result<QuerySource> source = QuerySource::Open(flags, collection.config().dimensions);
  if (!source.ok()) return ReportError(source.status());

  const SearchOptions options = ToSearchOptions(flags);
  if (flags.explain) {
    // The plan goes to standard error with the summary; standard output
    // stays the results alone.
    Result<SearchPlan> plan = collection.Explain(options);
    if (!plan.ok()) return ReportError(plan.status());
    fmt::print(stderr, "plan: {}\n", plan->ToString());
  }
  std::vector<float> queries;
  std::uint64_t done = 0;
  std::chrono::duration<double> search_time{0};
  while (true) {
    Result<std::size_t> count = source->Next(kQueriesPerBatch, &queries);
    if (!count.ok()) return ReportError(count.status());
    if (*count == 0) break;
    const auto start = std::chrono::steady_clock::now();
    Result<std::vector<std::vector<Match>>> results =
        collection.Search(queries.data(), *count, options);
    search_time += std::chrono::steady_clock::now() - start;
    if (!results.ok()) {
      return ReportError(
          results.status().WithContext(fmt::format("queries {} to {}", done, done + *count - 1)));
    }
    for (std::size_t i = 0; i < *count; ++i) {
      if (flags.json) {
        PrintMatchesJson(done + i, (*results)[i], flags);
      } else {
        PrintMatchesTable(done + i, (*results)[i]);
      }
    }
    done += *count;
  }
  if (done == 0) return ReportError(Status::InvalidArgument(flags.file + ": no queries"));

  const std::size_t ef =
      std::max(options.expansion_search > 0 ? options.expansion_search
                                            : std::size_t{collection.config().expansion_search},
               options.k);
  const double seconds = search_time.count();
  fmt::print(stderr, "{} queries in {:.3f} s: {:.1f} queries/s (k={}, ef={})\n", done, seconds,
             seconds > 0 ? static_cast<double>(done) / seconds : 0.0, options.k, ef);
  return kExitOk;
}

}  // namespace

Command AddSearchCommand(CLI::App& app, const GlobalOptions& global) {
  CLI::App* command = AddSubcommand(
      app, "search",
      "Find the k nearest records of query vectors (distance: LOWER IS CLOSER), or search by "
      "text.",
      "Queries come from QUERYFILE (the formats of import; JSONL uses \"embedding\"), from\n"
      "--vector, or from --text. Distances are in the collection's metric, closest first:\n"
      "l2sq = squared Euclidean, cos = 1 - cosine similarity, ip = 1 - dot product.\n"
      "--text --mode fulltext ranks the record texts by BM25 (SQLite FTS5; the score is\n"
      "HIGHER IS BETTER); --mode hybrid fuses that ranking with the vector search of the\n"
      "embedded text (score: fused, higher is better; distance: the vector side's, - when\n"
      "only BM25 found the record). See docs/text.md.\n"
      "Output: a table per query (rank, key, distance or score, text), or with --json one\n"
      "object per query and line: {\"query\": i, \"matches\": [{\"key\": .., \"distance\": ..},\n"
      "...]} (text searches add \"score\"; a distance not computed is null).\n"
      "The throughput line goes to standard error, so standard output stays parseable.\n"
      "Opens the store read-only, so it works beside a running `quiver serve`.");
  auto flags = std::make_shared<SearchFlags>();
  AddDataOption(command, &flags->data_dir);
  AddCollectionOption(command, &flags->collection)->required();
  CLI::Option* file =
      command->add_option("QUERYFILE", flags->file, "File of query vectors")->type_name("PATH");
  CLI::Option* vector =
      command
          ->add_option("--vector", flags->vector,
                       "One query, comma-separated: \"0.1,0.2,...\" (as many values as the "
                       "collection's dimensions)")
          ->excludes(file);
  CLI::Option* text =
      command
          ->add_option("--text", flags->texts,
                       "A query text (repeat for several queries); --mode says how it is "
                       "searched. For full text it is plain language (records with any of its "
                       "words, BM25-ranked) unless --syntax fts5")
          ->type_name("TEXT")
          ->excludes(file)
          ->excludes(vector);
  command
      ->add_option("--mode", flags->mode,
                   "With --text: vector (embed it with the collection's model), fulltext "
                   "(BM25 over the record texts; no model needed) or hybrid (both, fused)")
      ->check(CLI::IsMember({"vector", "fulltext", "hybrid"}))
      ->capture_default_str()
      ->needs(text);
  command
      ->add_option("--syntax", flags->syntax,
                   "How the full-text side reads --text: plain (any of its words, no "
                   "operators) or fts5 (SQLite FTS5's syntax: words ANDed, \"a phrase\", OR, "
                   "NOT, prefix*)")
      ->check(CLI::IsMember({"plain", "fts5"}))
      ->capture_default_str()
      ->needs(text);
  command
      ->add_option("--fusion", flags->fusion,
                   "With --mode hybrid: rrf (reciprocal rank fusion, 1/(rrf_k + rank) summed) "
                   "or weighted (vector_weight x normalized vector score + the rest x "
                   "normalized BM25)")
      ->check(CLI::IsMember({"rrf", "weighted"}))
      ->capture_default_str()
      ->needs(text);
  command->add_option("--rrf-k", flags->rrf_k, "RRF's constant k (60 in the paper)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{10000}))
      ->capture_default_str()
      ->needs(text);
  command
      ->add_option("--vector-weight", flags->vector_weight,
                   "Weight of the vector side in --fusion weighted, 0 to 1")
      ->check(CLI::Range(0.0f, 1.0f))
      ->capture_default_str()
      ->needs(text);
  command
      ->add_option("--candidates", flags->candidates,
                   "With --mode hybrid: candidates taken from each side before fusion (0 = "
                   "max(4k, 50))")
      ->check(CLI::Range(std::size_t{0}, kMaxSearchK))
      ->capture_default_str()
      ->needs(text);
  AddFormatOption(command, &flags->format);
  command->add_option("-k,--k", flags->k, "Matches per query")
      ->check(CLI::Range(std::size_t{1}, kMaxSearchK))
      ->capture_default_str();
  command->add_option("--expansion-search", flags->expansion_search,
                      "HNSW ef for this search: candidates considered; higher = better recall, "
                      "slower (default: the collection's; raised to k if lower)");
  command->add_option("--limit", flags->limit, "Run only the first N queries of the file")
      ->type_name("N");
  CLI::Option* json =
      command->add_flag("--json", flags->json, "One JSON object per query and line");
  command
      ->add_option("--include", flags->include,
                   "With --json, also print these fields of each match, comma-separated: id, "
                   "text, metadata (each costs one SQLite lookup per match)")
      ->delimiter(',')
      ->check(CLI::IsMember({"id", "text", "metadata"}))
      ->needs(json);
  command->add_option("--where", flags->where,
                      "Only records that match this filter, e.g. '{\"color\": \"red\"}' (see "
                      "`quiver count --help` and docs/filters.md); recall holds at any "
                      "selectivity");
  command->add_option("--max-distance", flags->max_distance,
                      "Drop matches farther than this distance");
  command->add_flag("--rerank", flags->rerank,
                    "Re-score candidates with the float32 embeddings kept in SQLite (exact "
                    "distances for f16, bf16 and i8 collections)");
  command
      ->add_option("--rerank-oversample", flags->rerank_oversample,
                   "Candidates per match to re-rank")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100}))
      ->capture_default_str();
  command
      ->add_option("--strategy", flags->strategy,
                   "Override the planner: auto, exact or filtered-hnsw")
      ->check(CLI::IsMember({"auto", "exact", "filtered-hnsw", "hnsw"}))
      ->capture_default_str();
  command->add_flag("--explain", flags->explain,
                    "Print the plan (strategy, matching records, expansion) on standard error");
  return {command, [flags, &global] { return RunSearch(*flags, global); }};
}

}  // namespace quiver::cli
