// Copyright (c) Quiver authors.
//
// What the tests that read or alter a store's SQLite file directly share
// (full-text, properties, quarantine): a statement run with a connection of
// its own, and a single-value query. The store must be closed, or not
// writing. Tests only: link SQLite::SQLite3.

#ifndef QUIVER_TESTS_COMMON_SQLITE_UTIL_H_
#define QUIVER_TESTS_COMMON_SQLITE_UTIL_H_

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdint>
#include <string>

namespace quiver::testing {

/// Runs `sql` (any number of statements) on `dir`/quiver.db; a failure is a
/// test failure naming the statement.
inline void RunSql(const std::string& dir, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/quiver.db").c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error ? error : "") << " in: " << sql;
  sqlite3_free(error);
  sqlite3_close(db);
}

/// The first column of the first row of `sql` as text ("" when there is no
/// row or it is NULL).
inline std::string QuerySql(const std::string& dir, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open((dir + "/quiver.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
  std::string value;
  if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
    value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

/// The first column of the first row of `sql` as an integer (-1 when there is no row).
inline std::int64_t QueryInt(const std::string& dir, const std::string& sql) {
  const std::string text = QuerySql(dir, sql);
  return text.empty() ? -1 : std::stoll(text);
}

}  // namespace quiver::testing

#endif  // QUIVER_TESTS_COMMON_SQLITE_UTIL_H_
