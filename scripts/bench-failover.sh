#!/usr/bin/env bash
# How long a consumer group leaves a dead member's partitions unread (the "stall"), measured with
# librdkafka (kcat) against Redress's embedded broker, for the group settings the services use.
#
#   scripts/bench-failover.sh [REDRESS_BINARY]
#
# Scenario "death": two members share a 2-partition topic; one is killed with SIGKILL; a message is
# produced to every partition; the stall is the time until the survivor has read them all.
# Scenario "restart": the killed member comes back at once with the same group.instance.id (static
# membership); the stall is the time until every message is read by someone.
# Every process started here is stopped by PID on exit.
set -euo pipefail
redress="${1:-.build/debug/redress}"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

"$redress" broker --topic failover:2 --log-level warning > "$work/broker.out" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/broker.out" ] && break; sleep 0.1; done
brokers="$(head -1 "$work/broker.out")"

now() { date +%s.%N; }

# member NAME SESSION_MS HEARTBEAT_MS [INSTANCE_ID]: a balanced consumer printing "partition offset payload".
member() {
  local extra=()
  [ -n "${4:-}" ] && extra=(-X "group.instance.id=$4")
  kcat -b "$brokers" -G "$group" -u -q -f '%p %o %s\n' \
    -X session.timeout.ms="$2" -X heartbeat.interval.ms="$3" -X fetch.wait.max.ms=10 -X auto.offset.reset=earliest "${extra[@]}" \
    failover > "$work/$1.out" 2>/dev/null &
  echo $!
}

# Waits until FILE has read every marker of ROUND; prints the seconds since START.
wait_read() {
  local start="$1" round="$2"; shift 2
  for _ in $(seq 1200); do
    local seen=0
    for p in 0 1; do grep -qhs "^$p [0-9]* $round-$p$" "$@" && seen=$((seen + 1)); done
    if [ "$seen" -eq 2 ]; then awk -v end="$(now)" -v start="$start" "BEGIN { printf \"%.1f\\n\", end - start }"; return 0; fi
    sleep 0.05
  done
  echo "timeout ($(cat "$@" 2>/dev/null | tr "\n" "|"))"
}

produce_round() {
  for p in 0 1; do echo "$1-$p" | kcat -b "$brokers" -P -t failover -p "$p"; done
}

settle() {  # both members own a partition: a probe round is read
  produce_round "probe$1"
  wait_read "$(now)" "probe$1" "$work"/*.out > /dev/null
}

printf '%-46s %s\n' "member settings" "stall (s)"
# Before (librdkafka's 3 s heartbeat, 10 s session), after (1 s / 6 s, the services' defaults now).
for settings in "10000 3000" "6000 1000"; do
  set -- $settings
  group="failover-death-$1-$RANDOM"
  a=$(member a "$1" "$2"); pids+=("$a")
  b=$(member b "$1" "$2"); pids+=("$b")
  sleep 4; settle "$1"
  kill -KILL "$a"
  start="$(now)"; produce_round "death$1"
  printf '%-46s %s\n' "killed; session $1 ms, heartbeat $2 ms" "$(wait_read "$start" "death$1" "$work/b.out")"
  kill -TERM "$b" 2>/dev/null || true
  rm -f "$work"/*.out
done

# A killed member restarted at once with the same group.instance.id (static membership).
group="failover-restart-$RANDOM"
a=$(member a 6000 1000 redress-a); pids+=("$a")
b=$(member b 6000 1000 redress-b); pids+=("$b")
sleep 4; settle static
kill -KILL "$a"
start="$(now)"
a=$(member a2 6000 1000 redress-a); pids+=("$a")
produce_round restart
printf '%-46s %s\n' "restarted, static member, 6000 ms" "$(wait_read "$start" restart "$work"/a2.out "$work"/b.out)"
