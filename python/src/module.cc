// Copyright (c) Quiver authors.
//
// quiver._quiver: the native layer of the Python package `quiver`
// (python/quiver/__init__.py holds the ergonomics; docs/python.md the guide).
// It sees only include/quiver, like the CLI and the server.
//
// Contracts kept here, for every function below:
// - A Status that is not OK becomes the exception class quiver._errors
//   registers for its code (quiver.InvalidArgumentError, ...), with the
//   library's message unchanged.
// - Arrays of vectors must be 2-D, float32, C-contiguous and as wide as the
//   collection's dimensions; anything else raises InvalidArgumentError naming
//   the argument before anything is written. The pure-Python layer converts
//   other dtypes first (its rule is in docs/python.md). The data is read in
//   place, never copied, for searches; an upsert copies each row once into the
//   library's Record.
// - The GIL is released while the library works (upsert, insert, delete, get,
//   search, count, checkpoint, rebuild, verify, backup, open, close), so other
//   Python threads run meanwhile. Arrays passed in must not be resized or
//   written by another thread during the call.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "quiver/json_views.h"
#include "quiver/quiver.h"

namespace py = pybind11;

namespace quiver::python {
namespace {

// Largest integer id, as in the HTTP API: keys stay below 2^63 so that they fit
// SQLite's signed INTEGER and never meet kReservedKey.
constexpr std::uint64_t kMaxIntegerId = (std::uint64_t{1} << 63) - 1;

// The exception class of each StatusCode, indexed by its value; filled at
// import from quiver._errors.STATUS_CLASSES.
constexpr int kNumCodes = static_cast<int>(StatusCode::kUnavailable) + 1;
py::object* g_error_classes = nullptr;  // array of kNumCodes, never freed

// Raises the exception class of `status`'s code with its message. Needs the GIL.
[[noreturn]] void Raise(const Status& status) {
  int code = static_cast<int>(status.code());
  if (code <= 0 || code >= kNumCodes) code = static_cast<int>(StatusCode::kInternal);
  PyErr_SetString(g_error_classes[code].ptr(), status.message().c_str());
  throw py::error_already_set();
}

[[noreturn]] void RaiseInvalid(const std::string& message) {
  Raise(Status::InvalidArgument(message));
}

void Check(const Status& status) {
  if (!status.ok()) Raise(status);
}

template <typename T>
T Take(Result<T>&& result) {
  if (!result.ok()) Raise(result.status());
  return std::move(result).value();
}

// Runs `call` (a library call returning a Status or Result) with the GIL
// released, so that other Python threads run meanwhile; the GIL is held again
// when it returns, ready for Check or Take. `call` must not touch Python objects.
template <typename Call>
auto WithoutGil(Call&& call) -> decltype(call()) {
  py::gil_scoped_release release;
  return call();
}

// The key of a string id is the library's one rule (quiver::KeyForStringId,
// include/quiver/record.h), shared with the CLI and HTTP faces.
using ::quiver::KeyForStringId;

// A checked view of a 2-D C-contiguous float32 array.
struct MatrixView {
  const float* data = nullptr;
  std::size_t rows = 0;
  std::size_t cols = 0;
};

// Checks `array` (argument `field`) is (n, dims) float32 C-contiguous with
// n >= 1. InvalidArgumentError naming the field and the expected value otherwise.
MatrixView CheckMatrix(const py::array& array, const char* field, std::uint32_t dims) {
  if (array.ndim() != 2) {
    RaiseInvalid(std::string(field) + ": expected a 2-D array of shape (n, " +
                 std::to_string(dims) + "), got " + std::to_string(array.ndim()) +
                 " dimension(s) (pass one vector as x.reshape(1, -1))");
  }
  if (!array.dtype().is(py::dtype::of<float>())) {
    RaiseInvalid(std::string(field) + ": expected dtype float32, got " +
                 py::str(array.dtype()).cast<std::string>());
  }
  if (!(array.flags() & py::array::c_style)) {
    RaiseInvalid(std::string(field) + ": expected a C-contiguous array");
  }
  const auto rows = static_cast<std::size_t>(array.shape(0));
  const auto cols = static_cast<std::size_t>(array.shape(1));
  if (cols != dims) {
    RaiseInvalid(std::string(field) + ": rows have " + std::to_string(cols) +
                 " components, expected " + std::to_string(dims) +
                 " (the collection's dimensions)");
  }
  if (rows == 0) RaiseInvalid(std::string(field) + ": expected at least one row, got 0");
  return {static_cast<const float*>(array.data()), rows, cols};
}

// Keys (and string ids) named by a Python `ids` argument: a sequence whose
// items are str (key = KeyForStringId) or int in 0..2^63-1, or a NumPy
// integer array of such ints. `names[i]` is empty for integer ids.
struct IdList {
  std::vector<Key> keys;
  std::vector<std::string> names;
};

IdList ParseIds(const py::handle& ids, const char* field) {
  IdList out;
  if (py::isinstance<py::array>(ids)) {
    const auto array = py::reinterpret_borrow<py::array>(ids);
    const char kind = array.dtype().kind();
    if (array.ndim() != 1 || (kind != 'i' && kind != 'u')) {
      RaiseInvalid(
          std::string(field) + ": expected a 1-D integer array or a list of str/int, got " +
          std::to_string(array.ndim()) + "-D dtype " + py::str(array.dtype()).cast<std::string>());
    }
    // One conversion to int64 (exact for every valid key) then a range check.
    const auto as_int64 =
        py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(array);
    if (kind == 'u' && array.itemsize() == 8) {
      // uint64 values above 2^63-1 would wrap: check them before converting.
      const auto as_uint64 =
          py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast>::ensure(array);
      const std::uint64_t* values = as_uint64.data();
      for (py::ssize_t i = 0; i < as_uint64.size(); ++i) {
        if (values[i] > kMaxIntegerId) {
          RaiseInvalid(std::string(field) + "[" + std::to_string(i) +
                       "]: " + std::to_string(values[i]) + " is out of range; expected 0..2^63-1");
        }
      }
    }
    const std::int64_t* values = as_int64.data();
    out.keys.resize(static_cast<std::size_t>(as_int64.size()));
    out.names.resize(out.keys.size());
    for (std::size_t i = 0; i < out.keys.size(); ++i) {
      if (values[i] < 0) {
        RaiseInvalid(std::string(field) + "[" + std::to_string(i) +
                     "]: " + std::to_string(values[i]) + " is out of range; expected 0..2^63-1");
      }
      out.keys[i] = static_cast<Key>(values[i]);
    }
    return out;
  }
  if (py::isinstance<py::str>(ids) || !py::isinstance<py::sequence>(ids)) {
    RaiseInvalid(std::string(field) + ": expected a list of str or int ids, got " +
                 py::str(ids.get_type().attr("__name__")).cast<std::string>());
  }
  const auto sequence = py::reinterpret_borrow<py::sequence>(ids);
  const std::size_t n = sequence.size();
  out.keys.resize(n);
  out.names.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const py::object item = sequence[i];
    const std::string where = std::string(field) + "[" + std::to_string(i) + "]";
    if (py::isinstance<py::str>(item)) {
      std::string name = item.cast<std::string>();
      if (name.empty()) RaiseInvalid(where + ": a string id must not be empty");
      out.keys[i] = KeyForStringId(name);
      out.names[i] = std::move(name);
    } else if (py::isinstance<py::int_>(item) && !py::isinstance<py::bool_>(item)) {
      const py::int_ value = py::reinterpret_borrow<py::int_>(item);
      if (value < py::int_(0) || value > py::int_(kMaxIntegerId)) {
        RaiseInvalid(where + ": " + py::str(item).cast<std::string>() +
                     " is out of range; expected 0..2^63-1");
      }
      out.keys[i] = value.cast<std::uint64_t>();
    } else {
      RaiseInvalid(where + ": expected str or int, got " +
                   py::str(item.get_type().attr("__name__")).cast<std::string>());
    }
  }
  return out;
}

// Reads `values` (argument `field`: None, or a sequence of n items that are
// str or None) into `*out`, one string per record (None = empty).
void ReadStrings(const py::object& values, const char* field, std::size_t n,
                 std::vector<std::string>* out) {
  out->assign(n, std::string());
  if (values.is_none()) return;
  if (py::isinstance<py::str>(values) || !py::isinstance<py::sequence>(values)) {
    RaiseInvalid(std::string(field) + ": expected a list of " + std::to_string(n) +
                 " strings (or None)");
  }
  const auto sequence = py::reinterpret_borrow<py::sequence>(values);
  if (sequence.size() != n) {
    RaiseInvalid(std::string(field) + ": " + std::to_string(sequence.size()) + " entries for " +
                 std::to_string(n) + " records");
  }
  for (std::size_t i = 0; i < n; ++i) {
    const py::object item = sequence[i];
    if (item.is_none()) continue;
    if (!py::isinstance<py::str>(item)) {
      RaiseInvalid(std::string(field) + "[" + std::to_string(i) + "]: expected str or None, got " +
                   py::str(item.get_type().attr("__name__")).cast<std::string>());
    }
    (*out)[i] = item.cast<std::string>();
  }
}

// A non-negative integer argument `field` that must fit `T`.
template <typename T>
T CheckedCount(std::int64_t value, const char* field) {
  if (value < 0 || static_cast<std::uint64_t>(value) > std::numeric_limits<T>::max()) {
    RaiseInvalid(std::string(field) + ": " + std::to_string(value) +
                 " is out of range; expected 0.." + std::to_string(std::numeric_limits<T>::max()));
  }
  return static_cast<T>(value);
}

// Sets `*target` to `value` (argument `field`) when given, range-checked.
template <typename T>
void SetIfGiven(const std::optional<std::int64_t>& value, const char* field, T* target) {
  if (value.has_value()) *target = CheckedCount<T>(*value, field);
}

// A Python list of str from C++ strings.
py::list StringList(const std::vector<std::string>& values) {
  py::list list(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) list[i] = py::str(values[i]);
  return list;
}

// Runs Collection::Search on `queries` split into `threads` contiguous
// chunks, each on its own thread (the calling thread takes the first).
// `threads` is capped at one per query and at 4 per hardware thread; 0 means 1.
// Returns the first error of any chunk. Called without the GIL.
Status SearchInChunks(Collection& collection, const MatrixView& queries,
                      const SearchOptions& options, std::size_t threads,
                      std::vector<std::vector<Match>>* results) {
  const std::size_t cap = 4 * std::max(1u, std::thread::hardware_concurrency());
  threads = std::clamp<std::size_t>(threads, 1, std::min(queries.rows, cap));
  const std::size_t chunk = (queries.rows + threads - 1) / threads;
  std::vector<Status> statuses(threads);
  std::vector<std::vector<std::vector<Match>>> parts(threads);
  auto run = [&](std::size_t t) {
    const std::size_t begin = t * chunk;
    const std::size_t count = std::min(chunk, queries.rows - std::min(begin, queries.rows));
    if (count == 0) return;
    Result<std::vector<std::vector<Match>>> part =
        collection.Search(queries.data + begin * queries.cols, count, options);
    if (part.ok()) {
      parts[t] = std::move(part).value();
    } else {
      statuses[t] = part.status();
    }
  };
  std::vector<std::thread> workers;
  workers.reserve(threads - 1);
  for (std::size_t t = 1; t < threads; ++t) workers.emplace_back(run, t);
  run(0);
  for (std::thread& worker : workers) worker.join();
  for (const Status& status : statuses) {
    if (!status.ok()) return status;
  }
  results->clear();
  results->reserve(queries.rows);
  for (auto& part : parts) {
    for (auto& matches : part) results->push_back(std::move(matches));
  }
  return Status::Ok();
}

// Search results as NumPy arrays: keys uint64 (q, k), distances float32
// (q, k), counts int64 (q,); rows shorter than k are padded with kReservedKey
// and +inf. Needs the GIL.
struct MatchArrays {
  MatchArrays(const std::vector<std::vector<Match>>& results, std::size_t k)
      : keys({static_cast<py::ssize_t>(results.size()), static_cast<py::ssize_t>(k)}),
        distances({static_cast<py::ssize_t>(results.size()), static_cast<py::ssize_t>(k)}),
        counts(static_cast<py::ssize_t>(results.size())) {
    std::fill_n(keys.mutable_data(), keys.size(), kReservedKey);
    std::fill_n(distances.mutable_data(), distances.size(), std::numeric_limits<float>::infinity());
    for (std::size_t row = 0; row < results.size(); ++row) {
      const std::size_t n = std::min(results[row].size(), k);
      counts.mutable_data()[row] = static_cast<std::int64_t>(n);
      for (std::size_t j = 0; j < n; ++j) {
        keys.mutable_data()[row * k + j] = results[row][j].key;
        distances.mutable_data()[row * k + j] = results[row][j].distance;
      }
    }
  }

  py::array_t<std::uint64_t> keys;
  py::array_t<float> distances;
  py::array_t<std::int64_t> counts;
};

// Handle to a collection; see quiver.Collection for the Python contract.
class PyCollection {
 public:
  explicit PyCollection(std::shared_ptr<Collection> collection)
      : collection_(std::move(collection)), dims_(collection_->config().dimensions) {}

  const std::string& name() const { return collection_->name(); }
  std::uint32_t dims() const { return dims_; }

  /// JSON of the configuration (ConfigToJson field names).
  std::string ConfigJson() const {
    return ConfigToJson<nlohmann::ordered_json>(collection_->config()).dump();
  }

  /// Upserts rows of `embeddings` under `ids`; texts and metadatas (JSON
  /// object strings) are None or one entry per row.
  void Upsert(const py::object& ids, const py::array& embeddings, const py::object& texts,
              const py::object& metadatas) {
    const MatrixView matrix = CheckMatrix(embeddings, "embeddings", dims_);
    IdList parsed = ParseIds(ids, "ids");
    if (parsed.keys.size() != matrix.rows) {
      RaiseInvalid("ids: " + std::to_string(parsed.keys.size()) + " ids for " +
                   std::to_string(matrix.rows) + " embeddings");
    }
    std::vector<Record> records = MakeRecords(matrix, texts, metadatas);
    for (std::size_t i = 0; i < records.size(); ++i) {
      records[i].key = parsed.keys[i];
      records[i].id = std::move(parsed.names[i]);
    }
    Check(WithoutGil([&] {
      CopyEmbeddings(matrix, &records);
      return collection_->Upsert(records);
    }));
  }

  /// Inserts rows under fresh keys; returns them as a uint64 array.
  py::array_t<std::uint64_t> Insert(const py::array& embeddings, const py::object& texts,
                                    const py::object& metadatas) {
    const MatrixView matrix = CheckMatrix(embeddings, "embeddings", dims_);
    std::vector<Record> records = MakeRecords(matrix, texts, metadatas);
    const std::vector<Key> values = Take(WithoutGil([&] {
      CopyEmbeddings(matrix, &records);
      return collection_->Insert(records);
    }));
    py::array_t<std::uint64_t> out(static_cast<py::ssize_t>(values.size()));
    std::copy(values.begin(), values.end(), out.mutable_data());
    return out;
  }

  std::size_t Delete(const py::object& ids) {
    const IdList parsed = ParseIds(ids, "ids");
    return Take(WithoutGil([&] { return collection_->Delete(parsed.keys); }));
  }

  /// Deletes every record that matches `where` (a filter's JSON text).
  std::size_t DeleteWhere(const std::string& where) {
    return Take(WithoutGil([&] { return collection_->DeleteWhere(where); }));
  }

  /// Records that match `where` ("" = all): `limit` per page after `cursor`.
  /// (keys uint64 (n,), ids, texts, metadatas, embeddings float32 (n, dims),
  /// next_cursor or None).
  py::tuple Scan(const std::string& where, std::int64_t limit, const std::string& cursor) {
    ScanOptions options;
    options.filter = where;
    options.limit = CheckedCount<std::size_t>(limit, "limit");
    options.cursor = cursor;
    options.include_embedding = true;
    ScanPage page = Take(WithoutGil([&] { return collection_->Scan(options); }));
    const auto n = static_cast<py::ssize_t>(page.records.size());
    py::array_t<std::uint64_t> keys(n);
    py::array_t<float> embeddings({n, static_cast<py::ssize_t>(dims_)});
    py::list ids(n), texts(n), metadatas(n);
    for (py::ssize_t i = 0; i < n; ++i) {
      const Record& r = page.records[static_cast<std::size_t>(i)];
      keys.mutable_at(i) = r.key;
      std::copy(r.embedding.begin(), r.embedding.end(), embeddings.mutable_data(i, 0));
      ids[static_cast<std::size_t>(i)] = py::str(r.id);
      texts[static_cast<std::size_t>(i)] = py::str(r.text);
      metadatas[static_cast<std::size_t>(i)] = py::str(r.metadata);
    }
    py::object next =
        page.next_cursor.empty() ? py::object(py::none()) : py::object(py::str(page.next_cursor));
    return py::make_tuple(keys, ids, texts, metadatas, embeddings, next);
  }

  /// (keys uint64 (n,), found bool (n,), ids, texts, metadatas, embeddings
  /// float32 (n, dims)); rows of missing records are NaN, their strings empty.
  py::tuple Get(const py::object& ids) {
    const IdList parsed = ParseIds(ids, "ids");
    const std::vector<std::optional<Record>> records =
        Take(WithoutGil([&] { return collection_->Get(parsed.keys); }));
    const auto n = static_cast<py::ssize_t>(records.size());
    py::array_t<std::uint64_t> keys(n);
    py::array_t<bool> found(n);
    py::array_t<float> embeddings({n, static_cast<py::ssize_t>(dims_)});
    py::list names(n), texts(n), metadatas(n);
    float* rows = embeddings.mutable_data();
    for (std::size_t i = 0; i < records.size(); ++i) {
      keys.mutable_data()[i] = parsed.keys[i];
      found.mutable_data()[i] = records[i].has_value();
      float* row = rows + i * dims_;
      if (records[i].has_value() && records[i]->embedding.size() == dims_) {
        std::memcpy(row, records[i]->embedding.data(), dims_ * sizeof(float));
      } else {
        std::fill(row, row + dims_, std::numeric_limits<float>::quiet_NaN());
      }
      const Record empty;
      const Record& record = records[i].has_value() ? *records[i] : empty;
      names[i] = py::str(record.id);
      texts[i] = py::str(record.text);
      metadatas[i] = py::str(record.metadata);
    }
    return py::make_tuple(keys, found, names, texts, metadatas, embeddings);
  }

  /// (keys uint64 (q, k), distances float32 (q, k), counts int64 (q,), ids,
  /// texts, metadatas): rows shorter than k are padded with kReservedKey and
  /// +inf; the string lists are None unless asked for.
  py::tuple Search(const py::array& queries, std::int64_t k, std::int64_t expansion_search,
                   std::int64_t threads, bool include_ids, bool include_texts,
                   bool include_metadatas, const std::string& where) {
    const MatrixView matrix = CheckMatrix(queries, "embeddings", dims_);
    SearchOptions options;
    options.filter = where;
    options.k = CheckedCount<std::size_t>(k, "k");
    options.expansion_search = CheckedCount<std::size_t>(expansion_search, "ef");
    options.include_id = include_ids;
    options.include_text = include_texts;
    options.include_metadata = include_metadatas;
    const auto thread_count = CheckedCount<std::size_t>(threads, "threads");
    std::vector<std::vector<Match>> results;
    Check(WithoutGil(
        [&] { return SearchInChunks(*collection_, matrix, options, thread_count, &results); }));
    const MatchArrays arrays(results, options.k);
    auto strings = [&results](bool wanted, std::string Match::*field) -> py::object {
      if (!wanted) return py::none();
      py::list rows(results.size());
      for (std::size_t row = 0; row < results.size(); ++row) {
        py::list values(results[row].size());
        for (std::size_t j = 0; j < results[row].size(); ++j) {
          values[j] = py::str(results[row][j].*field);
        }
        rows[row] = values;
      }
      return rows;
    };
    return py::make_tuple(arrays.keys, arrays.distances, arrays.counts,
                          strings(include_ids, &Match::id), strings(include_texts, &Match::text),
                          strings(include_metadatas, &Match::metadata));
  }

  /// Exact neighbours (brute force over the index); (keys, distances, counts) as Search.
  py::tuple SearchExact(const py::array& queries, std::int64_t k) {
    const MatrixView matrix = CheckMatrix(queries, "embeddings", dims_);
    const auto width = CheckedCount<std::size_t>(k, "k");
    const MatchArrays arrays(
        Take(WithoutGil([&] { return collection_->SearchExact(matrix.data, matrix.rows, width); })),
        width);
    return py::make_tuple(arrays.keys, arrays.distances, arrays.counts);
  }

  /// Records that match `where` (a filter's JSON text; "" = every record).
  std::uint64_t Count(const std::string& where) {
    return Take(WithoutGil([&] { return collection_->Count(where); }));
  }

  /// JSON of CollectionStats (StatsToJson field names).
  std::string StatsJson() {
    return StatsToJson<nlohmann::ordered_json>(
               Take(WithoutGil([&] { return collection_->Stats(); })))
        .dump();
  }

  void Checkpoint() {
    Check(WithoutGil([&] { return collection_->Checkpoint(); }));
  }

  /// None keeps the collection's value; scalar is "f32", "f16", "bf16" or "i8".
  void Rebuild(const std::optional<std::string>& scalar, std::optional<std::int64_t> connectivity,
               std::optional<std::int64_t> expansion_add,
               std::optional<std::int64_t> expansion_search) {
    RebuildOptions options;
    if (scalar.has_value()) options.scalar = Take(ParseScalarKind(*scalar));
    auto given = [](const std::optional<std::int64_t>& value,
                    const char* field) -> std::optional<std::uint32_t> {
      if (!value.has_value()) return std::nullopt;
      return CheckedCount<std::uint32_t>(*value, field);
    };
    options.connectivity = given(connectivity, "connectivity");
    options.expansion_add = given(expansion_add, "expansion_add");
    options.expansion_search = given(expansion_search, "expansion_search");
    Check(WithoutGil([&] { return collection_->Rebuild(options); }));
  }

  /// (collection, records_checked, index_vectors_checked, problems).
  py::tuple Verify() {
    const VerifyReport value = Take(WithoutGil([&] { return collection_->Verify(); }));
    return py::make_tuple(value.collection, value.records_checked, value.index_vectors_checked,
                          StringList(value.problems));
  }

 private:
  // Records with text and metadata filled from the Python lists (GIL held);
  // embeddings are copied later, without the GIL, by CopyEmbeddings.
  std::vector<Record> MakeRecords(const MatrixView& matrix, const py::object& texts,
                                  const py::object& metadatas) const {
    std::vector<std::string> text_values, metadata_values;
    ReadStrings(texts, "texts", matrix.rows, &text_values);
    ReadStrings(metadatas, "metadatas", matrix.rows, &metadata_values);
    std::vector<Record> records(matrix.rows);
    for (std::size_t i = 0; i < matrix.rows; ++i) {
      records[i].text = std::move(text_values[i]);
      records[i].metadata = std::move(metadata_values[i]);
    }
    return records;
  }

  static void CopyEmbeddings(const MatrixView& matrix, std::vector<Record>* records) {
    for (std::size_t i = 0; i < matrix.rows; ++i) {
      const float* row = matrix.data + i * matrix.cols;
      (*records)[i].embedding.assign(row, row + matrix.cols);
    }
  }

  std::shared_ptr<Collection> collection_;
  std::uint32_t dims_;
};

// Parses a log level name; "off" gives a logger that drops every line.
Logger MakeLogger(const std::string& level) {
  if (level == "off") return [](LogLevel, std::string_view) {};
  if (level == "debug") return StderrLogger(LogLevel::kDebug);
  if (level == "info") return StderrLogger(LogLevel::kInfo);
  if (level == "warn") return StderrLogger(LogLevel::kWarn);
  if (level == "error") return StderrLogger(LogLevel::kError);
  RaiseInvalid("log_level: '" + level + "'; expected debug, info, warn, error or off");
}

// Handle to an open store; see quiver.Store for the Python contract.
class PyStore {
 public:
  /// Opens the store in `dir`; options left None keep StoreOptions' defaults.
  static std::unique_ptr<PyStore> Open(const std::string& dir, bool create_if_missing,
                                       bool read_only, const std::string& synchronous,
                                       std::optional<std::int64_t> checkpoint_every_changes,
                                       std::optional<std::int64_t> checkpoint_interval_seconds,
                                       std::optional<bool> checkpoint_on_close,
                                       std::optional<std::int64_t> insert_threads,
                                       std::optional<std::int64_t> max_concurrent_searches,
                                       const std::string& log_level) {
    StoreOptions options;
    options.create_if_missing = create_if_missing;
    options.read_only = read_only;
    if (synchronous == "full") {
      options.synchronous = Synchronous::kFull;
    } else if (synchronous == "normal") {
      options.synchronous = Synchronous::kNormal;
    } else {
      RaiseInvalid("synchronous: '" + synchronous + "'; expected full or normal");
    }
    SetIfGiven(checkpoint_every_changes, "checkpoint_every_changes",
               &options.checkpoint_every_changes);
    SetIfGiven(checkpoint_interval_seconds, "checkpoint_interval_seconds",
               &options.checkpoint_interval_seconds);
    if (checkpoint_on_close.has_value()) options.checkpoint_on_close = *checkpoint_on_close;
    SetIfGiven(insert_threads, "insert_threads", &options.insert_threads);
    SetIfGiven(max_concurrent_searches, "max_concurrent_searches",
               &options.max_concurrent_searches);
    options.logger = MakeLogger(log_level);
    return std::make_unique<PyStore>(Take(WithoutGil([&] { return Store::Open(dir, options); })));
  }

  explicit PyStore(std::unique_ptr<Store> store) : store_(std::move(store)) {}

  const std::string& dir() const { return store_->dir(); }

  /// Creates (or, with get_if_exists, opens) a collection; parameters left
  /// None keep CollectionConfig's defaults.
  PyCollection CreateCollection(const std::string& name, std::int64_t dims,
                                const std::string& metric, const std::string& scalar,
                                std::optional<std::int64_t> connectivity,
                                std::optional<std::int64_t> expansion_add,
                                std::optional<std::int64_t> expansion_search,
                                const std::string& model_id, const std::string& model_version,
                                bool get_if_exists) {
    CollectionConfig config;
    config.dimensions = CheckedCount<std::uint32_t>(dims, "dims");
    config.metric = Take(ParseMetric(metric));
    config.scalar = Take(ParseScalarKind(scalar));
    SetIfGiven(connectivity, "connectivity", &config.connectivity);
    SetIfGiven(expansion_add, "expansion_add", &config.expansion_add);
    SetIfGiven(expansion_search, "expansion_search", &config.expansion_search);
    config.model_id = model_id;
    config.model_version = model_version;
    return PyCollection(Take(WithoutGil([&] {
      return get_if_exists ? store_->OpenCollection(name, config)
                           : store_->CreateCollection(name, config);
    })));
  }

  PyCollection GetCollection(const std::string& name) {
    return PyCollection(Take(WithoutGil([&] { return store_->GetCollection(name); })));
  }

  /// [(name, id, config JSON)], ordered by name.
  std::vector<std::tuple<std::string, std::int64_t, std::string>> ListCollections() {
    const std::vector<CollectionInfo> infos = Take(store_->ListCollections());
    std::vector<std::tuple<std::string, std::int64_t, std::string>> out;
    out.reserve(infos.size());
    for (const CollectionInfo& info : infos) {
      out.emplace_back(info.name, info.id,
                       ConfigToJson<nlohmann::ordered_json>(info.config).dump());
    }
    return out;
  }

  void DropCollection(const std::string& name) {
    Check(WithoutGil([&] { return store_->DropCollection(name); }));
  }

  void Checkpoint() {
    Check(WithoutGil([&] { return store_->Checkpoint(); }));
  }

  void Backup(const std::string& dest_dir) {
    Check(WithoutGil([&] { return store_->Backup(dest_dir); }));
  }

  void Close() {
    Check(WithoutGil([&] { return store_->Close(); }));
  }

 private:
  std::unique_ptr<Store> store_;
};

}  // namespace
}  // namespace quiver::python

PYBIND11_MODULE(_quiver, m) {
  using quiver::python::PyCollection;
  using quiver::python::PyStore;
  namespace qp = quiver::python;
  m.doc() = "Native layer of the quiver package; use `import quiver` (docs/python.md).";

  // One exception class per StatusCode, defined in Python (quiver/_errors.py).
  const py::dict classes = py::module_::import("quiver._errors").attr("STATUS_CLASSES");
  qp::g_error_classes = new py::object[qp::kNumCodes];
  for (int code = 1; code < qp::kNumCodes; ++code) {
    const std::string name(quiver::StatusCodeName(static_cast<quiver::StatusCode>(code)));
    if (!classes.contains(name)) {
      throw std::runtime_error("quiver._errors.STATUS_CLASSES lacks '" + name + "'");
    }
    qp::g_error_classes[code] = classes[py::str(name)];
  }

  m.attr("NO_KEY") = py::int_(quiver::kReservedKey);
  m.attr("MAX_K") = py::int_(quiver::kMaxSearchK);
  m.attr("MAX_BATCH") = py::int_(quiver::kMaxBatchSize);
  m.def("version", &quiver::Version);
  m.def("usearch_version", &quiver::UsearchVersion);
  m.def("simd_capabilities", &quiver::SimdCapabilities);
  m.def("key_for_id", [](const std::string& id) { return qp::KeyForStringId(id); });

  py::class_<PyCollection>(m, "Collection")
      .def_property_readonly("name", &PyCollection::name)
      .def_property_readonly("dims", &PyCollection::dims)
      .def("config_json", &PyCollection::ConfigJson)
      .def("upsert", &PyCollection::Upsert)
      .def("insert", &PyCollection::Insert)
      .def("delete", &PyCollection::Delete)
      .def("delete_where", &PyCollection::DeleteWhere)
      .def("scan", &PyCollection::Scan)
      .def("get", &PyCollection::Get)
      .def("search", &PyCollection::Search)
      .def("search_exact", &PyCollection::SearchExact)
      .def("count", &PyCollection::Count)
      .def("stats_json", &PyCollection::StatsJson)
      .def("checkpoint", &PyCollection::Checkpoint)
      .def("rebuild", &PyCollection::Rebuild)
      .def("verify", &PyCollection::Verify);

  py::class_<PyStore>(m, "Store")
      .def_static("open", &PyStore::Open)
      .def_property_readonly("dir", &PyStore::dir)
      .def("create_collection", &PyStore::CreateCollection)
      .def("get_collection", &PyStore::GetCollection)
      .def("list_collections", &PyStore::ListCollections)
      .def("drop_collection", &PyStore::DropCollection)
      .def("checkpoint", &PyStore::Checkpoint)
      .def("backup", &PyStore::Backup)
      .def("close", &PyStore::Close);
}
