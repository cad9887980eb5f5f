#!/usr/bin/env bash
# instr.sh [-w WARMUPS] [-s SCALE] 'SERVER COMMAND' SCENARIO...
#   Instructions per message of a server under ../shared/bench's load generator, counted by
#   valgrind's callgrind: a figure the noise of a shared machine does not move (timings do).
#   The server starts once under callgrind (PORT, MPORT, STOREDIR are filled in as run.sh
#   does), each scenario runs WARMUPS times (default 2, so the JIT has compiled the hot
#   paths), then the counters are zeroed, the scenario runs once more and the counters are
#   dumped. Prints: scenario, messages, instructions (all threads), instructions per message.
#   SCALE (default 0.05) scales the scenario's message count (run.sh's BENCH_SCALE): under
#   callgrind a server runs ~50x slower.
#   e.g. bench/instr.sh 'node dist/src/bin/tsnats-server.js -a 127.0.0.1 -js -sd STOREDIR -p PORT -m MPORT' jspub-async-mem16
set -u
WARM=2
SCALE=0.05
while getopts "w:s:" o; do case $o in w) WARM=$OPTARG ;; s) SCALE=$OPTARG ;; *) exit 2 ;; esac; done
shift $((OPTIND - 1))
[ $# -lt 2 ] && { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN=${RUN_SH:-$HERE/../../shared/bench/run.sh}
[ -x "$RUN" ] || RUN=/work/shared/bench/run.sh
SERVER=$1; shift
TMP=$(mktemp -d "${TMPDIR:-/tmp}/instr.XXXXXX")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$TMP/store"
cmd=$(printf '%s' "$SERVER" | sed -E "s/\bMPORT\b/$MPORT/g; s/\bPORT\b/$PORT/g; s#\bSTOREDIR\b#$TMP/store#g")
# shellcheck disable=SC2086
setsid valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file="$TMP/cg.out" $cmd >"$TMP/server.log" 2>&1 &
PID=$!
cleanup() { kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
for _ in $(seq 300); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || { echo "server died:"; tail -5 "$TMP/server.log"; exit 1; }
  sleep 1
done
n=0
for scn in "$@"; do
  for _ in $(seq "$WARM"); do
    BENCH_SCALE=$SCALE BENCH_QUIET_WAIT=0 BENCH_TIME=600 "$RUN" "nats://127.0.0.1:$PORT" "$scn" >/dev/null 2>&1
  done
  callgrind_control -z "$PID" >/dev/null 2>&1
  res=$(BENCH_SCALE=$SCALE BENCH_QUIET_WAIT=0 BENCH_TIME=600 "$RUN" "nats://127.0.0.1:$PORT" "$scn" 2>&1 | grep '^RESULT' | tail -1)
  callgrind_control -d "$PID" >/dev/null 2>&1
  n=$((n + 1))
  f="$TMP/cg.out.$n"
  for _ in $(seq 50); do [ -s "$f" ] && break; sleep 0.2; done
  ir=$(grep -m1 '^summary:' "$f" | awk '{print $2}')
  [ -z "$ir" ] && ir=$(grep -m1 '^totals:' "$f" | awk '{print $2}')
  msgs=$(echo "$res" | tr ' ' '\n' | grep '^msgs=' | cut -d= -f2)
  ok=$(echo "$res" | tr ' ' '\n' | grep '^ok=' | cut -d= -f2)
  awk -v s="$scn" -v m="${msgs:-0}" -v i="${ir:-0}" -v ok="${ok:-0}" 'BEGIN{printf "INSTR scenario=%s ok=%s msgs=%d instructions=%d per_msg=%.0f\n", s, ok, m, i, (m > 0 ? i / m : 0)}'
done
