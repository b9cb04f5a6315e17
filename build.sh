#!/usr/bin/env bash
# RedisKit's two commands:
#   ./build.sh test   install what the tests need, build in Release, run every test project,
#                     print "N passed, N failed, N skipped" and exit non-zero on any failure
#   ./build.sh run    start the reference API (samples/RedisKit.Samples.Shop) with no configuration
# Other: ./build.sh build | bench [BenchmarkDotNet args] | reliability [outage|cluster|kill|all] [--short]
set -euo pipefail
cd "$(dirname "$0")"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

ensure_redis() {
  if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    return 0
  fi
  echo "redis-server/redis-cli not found: installing from the OS packages (redis-server, redis-tools)"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "error: not root and no sudo; install redis-server and redis-tools yourself" >&2; return 1
    fi
  fi
  if command -v apt-get >/dev/null 2>&1; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server redis-tools >/dev/null
  elif command -v brew >/dev/null 2>&1; then
    brew install redis
  else
    echo "error: no apt-get or brew; install redis-server and redis-cli yourself" >&2; return 1
  fi
  # The Debian package starts a system service on 6379; the tests use their own servers on free ports.
  command -v redis-server >/dev/null 2>&1
}

ensure_wrk() {
  # The reliability runs (ReliabilityTests, ./build.sh reliability) put the sample under wrk load.
  if command -v wrk >/dev/null 2>&1; then return 0; fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "error: not root and no sudo; install wrk yourself" >&2; return 1
    fi
  fi
  echo "wrk not found: installing from the OS packages"
  $sudo apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
  command -v wrk >/dev/null 2>&1
}

ensure_chromium() {
  # The sample's dashboard test renders the page in headless Chromium.
  if command -v chromium >/dev/null 2>&1; then return 0; fi
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "chromium not found: installing from the OS packages"
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || echo "warning: chromium could not be installed"
  fi
}

build() {
  dotnet build RedisKit.slnx -c Release -warnaserror -nologo -v quiet
}

run_tests() {
  ensure_redis
  ensure_wrk
  ensure_chromium
  build
  local passed=0 failed=0 skipped=0 status=0
  local log
  log=$(mktemp)
  for project in tests/*/*.csproj; do
    echo "== $project"
    set +e
    dotnet test "$project" -c Release --no-build --nologo \
      --blame-hang-timeout 5m --logger "console;verbosity=minimal" 2>&1 | tee "$log"
    local code=${PIPESTATUS[0]}
    set -e
    local line
    line=$(grep -E '(Passed|Failed)!\s+-\s+Failed:' "$log" | tail -n 1 || true)
    if [ -z "$line" ]; then
      echo "error: $project reported no totals (exit $code)"
      failed=$((failed + 1)); status=1; continue
    fi
    local f p s
    f=$(sed -E 's/.*Failed:[[:space:]]+([0-9]+).*/\1/' <<<"$line")
    p=$(sed -E 's/.*Passed:[[:space:]]+([0-9]+).*/\1/' <<<"$line")
    s=$(sed -E 's/.*Skipped:[[:space:]]+([0-9]+).*/\1/' <<<"$line")
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    if [ "$code" -ne 0 ] || [ "$f" -ne 0 ]; then status=1; fi
  done
  rm -f "$log"
  # Servers started by tests are children of the test host and are killed when it exits
  # (RedisServerProcess registers a ProcessExit handler); nothing else is touched here, so
  # concurrent runs on one machine do not stop each other's servers.
  echo
  echo "$passed passed, $failed failed, $skipped skipped"
  return $status
}

case "${1:-test}" in
  test) run_tests ;;
  build) build ;;
  run)
    ensure_redis || echo "continuing without redis-server: the sample falls back to embedded Garnet"
    shift || true
    exec dotnet run --project samples/RedisKit.Samples.Shop -c Release "$@" ;;
  reliability)
    # Fault runs of the sample under wrk load; writes docs/reliability-runs.md (args: outage|cluster|kill|all [--short]).
    ensure_redis
    ensure_wrk
    shift || true
    dotnet build benchmarks/RedisKit.Reliability -c Release -nologo -v quiet
    exec dotnet benchmarks/RedisKit.Reliability/bin/Release/net10.0/RedisKit.Reliability.dll "$@" ;;
  bench)
    ensure_redis
    shift || true
    exec dotnet run --project benchmarks/RedisKit.Benchmarks -c Release -- "$@" ;;
  *) echo "usage: ./build.sh [test|run|build|bench|reliability]" >&2; exit 2 ;;
esac
