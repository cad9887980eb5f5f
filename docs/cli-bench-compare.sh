#!/usr/bin/env bash
# Compare `tsnats bench` (the Node.js CLI) with ../shared/bench's Go load generator on the
# same scenarios, against one server at a time, back to back, so the figures are comparable.
#   docs/cli-bench-compare.sh [SERVER_CMD] [SCALE]
# SERVER_CMD is a launch command with PORT and STOREDIR placeholders (default: this
# checkout's tsnats-server); SCALE multiplies message counts (default 0.25).
# Prints one line per scenario: the harness figure and the CLI figure.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVER=${1:-"node $HERE/dist/src/bin/tsnats-server.js -a 127.0.0.1 -js -sd STOREDIR -p PORT"}
SCALE=${2:-0.25}
HARNESS=${HARNESS:-$HERE/../shared/bench/run.sh}
CLI="node $HERE/dist/src/bin/tsnats.js"
n() { python3 -c "print(int($1 * $SCALE))"; }

start_server() {
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  STOREDIR=$(mktemp -d "${TMPDIR:-/tmp}/cli-bench.XXXX")
  local cmd=${SERVER//PORT/$PORT}
  cmd=${cmd//STOREDIR/$STOREDIR}
  $cmd >"$STOREDIR.log" 2>&1 &
  SPID=$!
  for _ in $(seq 1 100); do (echo >/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
  URL=nats://127.0.0.1:$PORT
}
stop_server() { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; rm -rf "$STOREDIR" "$STOREDIR.log"; }

harness() { BENCH_SCALE=$SCALE BENCH_QUIET_WAIT=${BENCH_QUIET_WAIT:-5} "$HARNESS" "$URL" "$1" 2>/dev/null | grep '^RESULT' | tr ' ' '\n' | grep -E "^($2)=" | tr '\n' ' '; }
cli() { $CLI -s "$URL" "$@" --no-progress --json 2>/dev/null; }
field() {
  python3 -c '
import json, sys
d = json.load(sys.stdin)
out = []
for k in sys.argv[1:]:
    v = d
    for part in k.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    out.append(f"{k}={round(v, 1) if isinstance(v, float) else v}")
print(" ".join(out))' "$@"
}

scenario() { printf '%-20s harness: %s\n%-20s tsnats bench: %s\n' "$1" "$2" "" "$3"; }

start_server
scenario pub16 "$(harness pub16 'msgs_per_sec|mb_per_sec')" "$(cli bench pub b.pub --size 16 --msgs "$(n 8000000)" | field msgs_per_sec mb_per_sec)"
stop_server

start_server
$CLI -s "$URL" bench sub b.ps --size 16 --msgs "$(n 2000000)" --no-progress --json >/tmp/cli-bench-sub.$$ 2>/dev/null &
SUB=$!
sleep 1
cli bench pub b.ps --size 16 --msgs "$(n 2000000)" >/dev/null
wait $SUB
scenario pubsub16 "$(harness pubsub16 'msgs_per_sec|mb_per_sec')" "$(field msgs_per_sec mb_per_sec </tmp/cli-bench-sub.$$)"
rm -f /tmp/cli-bench-sub.$$
stop_server

start_server
$CLI -s "$URL" bench service serve b.req --msgs "$(n 20000)" --no-progress >/dev/null 2>&1 &
SRV=$!
sleep 1
REQ=$(cli bench service request b.req --size 16 --msgs "$(n 20000)" | field latency_us.p50 latency_us.p90 latency_us.p99)
wait $SRV
scenario reqlat "$(harness reqlat 'p50_us|p90_us|p99_us|msgs_per_sec')" "$REQ"
stop_server

start_server
scenario jspub-sync-file16 "$(harness jspub-sync-file16 'msgs_per_sec|p50_us|p99_us')" "$(cli bench js pub sync b.sync --create --stream BSYNC --size 16 --msgs "$(n 20000)" | field msgs_per_sec latency_us.p50 latency_us.p99)"
scenario jspub-async-file16 "$(harness jspub-async-file16 'msgs_per_sec|mb_per_sec')" "$(cli bench js pub async b.async --create --stream BASYNC --batch 256 --size 16 --msgs "$(n 300000)" | field msgs_per_sec mb_per_sec)"
scenario jsfetch16 "$(harness jsfetch16 'msgs_per_sec')" "$(cli bench js fetch --stream BASYNC --batch 500 --msgs "$(n 300000)" | field msgs_per_sec)"
scenario jsordered16 "$(harness jsordered16 'msgs_per_sec')" "$(cli bench js ordered --stream BASYNC --batch 500 --msgs "$(n 300000)" | field msgs_per_sec)"
stop_server
