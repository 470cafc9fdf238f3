# shellcheck shell=bash
# Shared by the perf scripts (source it after setting HERE): the wrk path and extra arguments of
# a scenario, and waiting for a port to accept connections.

# Sets `path` and `extra` (wrk arguments) for scenario $1.
scenario_args() {
  case $1 in
    small) path=/small; extra=() ;;
    64k) path=/64k; extra=() ;;
    post1m) path=/upload; extra=(-s "$HERE/post1m.lua") ;;
    *) echo "unknown scenario: $1" >&2; exit 2 ;;
  esac
}

# Waits (up to 10 s) until 127.0.0.1:$1 accepts connections.
wait_port() {
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
