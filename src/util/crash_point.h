// Copyright (c) Quiver authors.
//
// Named crash points (after DuckDB's checkpoint abort points). The checkpoint
// and open paths call MaybeCrash("checkpoint.after_rename") etc. at each step.
// Tests arm one point with an action; in production nothing is armed and a
// crash point costs one relaxed atomic load.
//
// The names (stable, used by tests and docs/durability.md):
//   checkpoint.before_write    checkpoint.after_sync
//   checkpoint.after_rename    checkpoint.after_dir_sync  checkpoint.after_manifest
//   checkpoint.after_remove_old checkpoint.after_trim
//   open.after_cleanup         open.after_load            open.after_replay
//   upsert.before_commit       (an upsert or insert, every row written, not committed)
//   delete.before_commit       (a delete by key, every row deleted, not committed)
//   delete_where.before_commit (a delete by filter, every row deleted, not committed)
//   fulltext_migration.before_commit (a collection's full-text index built at open,
//                              not committed)
//   reachability.mid_repair    (after each node a graph repair relinks)

#ifndef QUIVER_UTIL_CRASH_POINT_H_
#define QUIVER_UTIL_CRASH_POINT_H_

#include <array>
#include <functional>
#include <string>
#include <string_view>

#include "quiver/status.h"

namespace quiver::crash_point {

/// The checkpoint's points, in the order a checkpoint reaches them.
inline constexpr std::array<const char*, 7> kCheckpointPoints = {
    "checkpoint.before_write",   "checkpoint.after_sync",     "checkpoint.after_rename",
    "checkpoint.after_dir_sync", "checkpoint.after_manifest", "checkpoint.after_remove_old",
    "checkpoint.after_trim"};

/// What an armed point does when reached: return a non-OK Status to make the
/// operation fail there (simulating a crash the test then "recovers" from by
/// dropping the store), or terminate the process (e.g. `_exit(9)`) in
/// black-box tests.
using Action = std::function<Status(std::string_view point)>;

/// Arms `point`; the next time it is reached (and every time after, until
/// Disarm), `action` runs. Thread-safe.
void Arm(std::string point, Action action);
/// Disarms all points. Thread-safe.
void DisarmAll();

/// Called by the storage engine at each named point. OK unless armed.
Status MaybeCrash(std::string_view point);

}  // namespace quiver::crash_point

#endif  // QUIVER_UTIL_CRASH_POINT_H_
