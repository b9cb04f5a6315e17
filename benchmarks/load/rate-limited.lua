-- A rate-limited route hammered by one client: after the first 100 requests of a minute every answer
-- is 429 with Retry-After, so this measures the cost of the limiter's decision (one Redis round trip).
wrk.method = "GET"
wrk.path = "/games/load/leaderboard?top=10"

-- One machine-readable line for run.sh: req/s, p50 ms, p99 ms, non-2xx/3xx responses, socket errors, requests.
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.1f %.3f %.3f %d %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, errors, summary.requests))
end
