#!/usr/bin/env bash
# bench/tls_ws.sh [SCENARIO...]: TLS and WebSocket figures, nats-server 2.15 (A) beside
# tsnats (B), with the shared load generator (../shared/bench's natsbench on the Go client).
#
# The shared run.sh speaks nats:// only, so this script starts each server itself with a
# config that has a TLS client port and a plain WebSocket port, then points natsbench at
# tls://127.0.0.1:PORT or ws://127.0.0.1:WSPORT. The Go client trusts the test CA through
# SSL_CERT_FILE (readiness is probed on nats://, which nats.go upgrades when INFO asks for TLS).
# Servers alternate A B A B ... (ROUNDS, default 3); each figure is the median.
#
# Scenarios: tlsconns1000 (TLS connections/s while opening 1000), tlspubsub16, tlspubsub1k,
# wspubsub16, wspubsub1k (1 publisher -> 1 subscriber, msgs/s). Default: all of them.
# Knobs: ROUNDS=3, BENCH_TIME=8 (s cap per phase), NATS_SERVER (default: the 2.15 reference).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=$(cd "$ROOT/../shared" 2>/dev/null && pwd || echo /work/shared)
NB=${NATSBENCH:-$HOME/.cache/nats-bench/natsbench}
[ -x "$NB" ] || "$SHARED/bench/build.sh" >&2 || exit 1
NATS_SERVER=${NATS_SERVER:-$("$SHARED/tools/nats-server-ref.sh")}
TSNATS="node $ROOT/dist/src/bin/tsnats-server.js"
[ -f "$ROOT/dist/src/bin/tsnats-server.js" ] || { echo "build tsnats first (npm run build)" >&2; exit 1; }
ROUNDS=${ROUNDS:-3}
BENCH_TIME=${BENCH_TIME:-8}
SCENARIOS=${*:-tlsconns1000 tlspubsub16 tlspubsub1k wspubsub16 wspubsub1k}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tsnats-bench-tls.XXXXXX")
SRV_PID=""
cleanup() {
  [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# A CA and a server certificate for 127.0.0.1 (the Go client checks the IP SAN).
(
  cd "$WORK" || exit 1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca-key.pem -out ca.pem -days 2 -subj "/CN=bench CA" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout key.pem -out srv.csr -subj "/CN=127.0.0.1" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > srv.ext
  openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -days 2 -extfile srv.ext 2>/dev/null
) || exit 1

free_port() { # a free port outside the ephemeral range
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 12000))
    ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null | grep -q . || { echo "$p"; return; }
  done
  exit 1
}

# start_server A|B: writes the config, starts the server, sets PORT WSPORT MPORT SRV_PID.
start_server() {
  PORT=$(free_port); WSPORT=$(free_port); MPORT=$(free_port)
  cat > "$WORK/server.conf" <<EOF
listen: "127.0.0.1:$PORT"
http: "127.0.0.1:$MPORT"
tls { cert_file: "$WORK/cert.pem", key_file: "$WORK/key.pem" }
websocket { listen: "127.0.0.1:$WSPORT", no_tls: true }
EOF
  local cmd
  if [ "$1" = A ]; then cmd="$NATS_SERVER -c $WORK/server.conf"; else cmd="$TSNATS -c $WORK/server.conf"; fi
  $cmd > "$WORK/server-$1.log" 2>&1 &
  SRV_PID=$!
  SSL_CERT_FILE="$WORK/ca.pem" "$NB" wait -s "nats://127.0.0.1:$PORT" -wait 30 >/dev/null 2>&1 || {
    echo "# server $1 did not start:" >&2; tail -5 "$WORK/server-$1.log" >&2; return 1
  }
}

stop_server() {
  [ -n "$SRV_PID" ] || return 0
  kill "$SRV_PID" 2>/dev/null
  wait "$SRV_PID" 2>/dev/null
  SRV_PID=""
}

# run_scenario NAME SIDE: prints the scenario's figure (or "fail").
run_scenario() {
  local args field url
  case "$1" in
    tlsconns1000) url="tls://127.0.0.1:$PORT"; args="conns -conns 1000"; field=conns_per_sec ;;
    tlspubsub16) url="tls://127.0.0.1:$PORT"; args="pubsub -n 2000000 -size 16 -subs 1"; field=msgs_per_sec ;;
    tlspubsub1k) url="tls://127.0.0.1:$PORT"; args="pubsub -n 500000 -size 1024 -subs 1"; field=msgs_per_sec ;;
    wspubsub16) url="ws://127.0.0.1:$WSPORT"; args="pubsub -n 2000000 -size 16 -subs 1"; field=msgs_per_sec ;;
    wspubsub1k) url="ws://127.0.0.1:$WSPORT"; args="pubsub -n 500000 -size 1024 -subs 1"; field=msgs_per_sec ;;
    *) echo "unknown scenario $1" >&2; return 2 ;;
  esac
  local out
  # shellcheck disable=SC2086
  out=$(SSL_CERT_FILE="$WORK/ca.pem" timeout 150 "$NB" $args -s "$url" -name "$1" -t "$BENCH_TIME" 2>&1 | grep '^RESULT' | tail -1)
  if [[ "$out" == *" ok=1 "* ]]; then
    echo "$out" | tr ' ' '\n' | awk -F= -v f="$field" '$1==f{print $2}'
  else
    echo "fail"
    echo "# $1 on $2: $out" >&2
  fi
}

median() { sort -g | awk '{a[NR]=$1} END{ if (NR==0) print "n/a"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }

printf '%-14s %14s %14s %7s\n' scenario "nats-server" tsnats "B/A"
for scn in $SCENARIOS; do
  : > "$WORK/A.txt"; : > "$WORK/B.txt"
  for _ in $(seq "$ROUNDS"); do
    for side in A B; do
      start_server "$side" || { stop_server; continue; }
      v=$(run_scenario "$scn" "$side")
      stop_server
      [ "$v" != fail ] && echo "$v" >> "$WORK/$side.txt"
    done
  done
  a=$(median < "$WORK/A.txt"); b=$(median < "$WORK/B.txt")
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN{ if (a+0>0 && b+0>0) printf "%.2f", b/a; else print "n/a" }')
  printf '%-14s %14s %14s %7s\n' "$scn" "$a" "$b" "$ratio"
done
