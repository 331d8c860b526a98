-- wrk script of bench/http_bench.sh: POSTs pre-generated query bodies, cycled.
--
--   QUIVER_BENCH_BODIES=FILE wrk -t T -c C -d 10s --latency -s bench/wrk/query.lua \
--       http://127.0.0.1:PORT/v2/collections/fashion/query
--
-- FILE holds one JSON request body per line (bench/http_bench_helper.py query-bodies).
-- Every request is built once, at start-up; each wrk thread starts at a different
-- place in the cycle. At the end one machine-readable line is printed:
--   RESULT requests=N seconds=S rps=R p50_us=.. p99_us=.. non2xx=.. socket_errors=..

local bodies_file = os.getenv("QUIVER_BENCH_BODIES")
if not bodies_file then
  error("QUIVER_BENCH_BODIES is not set (the file of request bodies)")
end

-- setup() runs in the main Lua state, once per thread: number the threads.
local thread_count = 0
function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

local requests = {}
local position = 0

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  for line in io.lines(bodies_file) do
    if #line > 0 then
      requests[#requests + 1] = wrk.format("POST", nil, headers, line)
    end
  end
  if #requests == 0 then
    error(bodies_file .. ": no request bodies")
  end
  -- thread_index is set by setup(); stride by a prime so that threads differ.
  position = ((thread_index or 0) * 499) % #requests
end

function request()
  position = position % #requests + 1
  return requests[position]
end

function done(summary, latency, requests_unused)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p99_us=%d non2xx=%d socket_errors=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50.0), latency:percentile(99.0),
    e.status, e.connect + e.read + e.write + e.timeout))
end
