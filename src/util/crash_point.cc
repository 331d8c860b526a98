// Copyright (c) Quiver authors.

#include "util/crash_point.h"

#include <atomic>
#include <mutex>

namespace quiver::crash_point {
namespace {

struct Registry {
  std::mutex mu;
  std::string point;
  Action action;
};

std::atomic<bool> g_armed{false};

Registry& GetRegistry() {
  static Registry* registry = new Registry();  // never destroyed: usable during exit
  return *registry;
}

}  // namespace

void Arm(std::string point, Action action) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.point = std::move(point);
  r.action = std::move(action);
  g_armed.store(true, std::memory_order_release);
}

void DisarmAll() {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  g_armed.store(false, std::memory_order_release);
  r.point.clear();
  r.action = nullptr;
}

Status MaybeCrash(std::string_view point) {
  if (!g_armed.load(std::memory_order_acquire)) return Status::Ok();
  Action action;
  {
    Registry& r = GetRegistry();
    std::lock_guard<std::mutex> lock(r.mu);
    if (r.point != point || !r.action) return Status::Ok();
    action = r.action;
  }
  return action(point);
}

}  // namespace quiver::crash_point
