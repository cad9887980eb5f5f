#!/usr/bin/env bash
# Cross-account figures, nats-server (A) and tsnats (B) side by side, in the manner of
# ../shared/bench/compare.sh: a fresh server per run, A B A B ... for ROUNDS rounds, medians
# and the ratio B/A. The load generator (bench/accounts/main.go, built like the harness's
# natsbench against Debian's nats.go) connects publisher and subscriber as different users.
#
#   bench/accounts.sh [scenario ...]        default: all of them
#   ROUNDS=3 BENCH_SCALE=1 BENCH_TIME=8 SERVER_A='nats-server cmd' SERVER_B='tsnats cmd'
#
# Scenarios (16-byte payloads):
#   direct16   publisher and subscriber in one account (the baseline, like the harness's pubsub16)
#   stream16   publisher in A, subscriber in B through a stream import (prefix "froma")
#   service16  publisher in B, subscriber in A through a service import (no reply)
#   req16      16 outstanding requests in one account
#   svcreq16   16 outstanding requests from B to a responder in A through a service import
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CACHE=${BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nats-bench}
TMP=${BENCH_TMP:-${TMPDIR:-/tmp}/nats-bench}
ROUNDS=${ROUNDS:-3}
SCALE=${BENCH_SCALE:-1}
TIME=${BENCH_TIME:-8}
REF=$("$ROOT/../shared/tools/nats-server-ref.sh" 2>/dev/null || command -v nats-server)
SERVER_A=${SERVER_A:-"$REF -c CONF -a 127.0.0.1 -p PORT"}
SERVER_B=${SERVER_B:-"node $ROOT/dist/src/bin/tsnats-server.js -c CONF -a 127.0.0.1 -p PORT"}
XACCT="$CACHE/xacct"
mkdir -p "$CACHE" "$TMP"

if [ ! -x "$XACCT" ] || [ "$HERE/accounts/main.go" -nt "$XACCT" ]; then
  (cd "$HERE/accounts" && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= timeout 300 go build -o "$XACCT" .) || { echo "build failed" >&2; exit 1; }
fi

CONF="$TMP/accounts-bench.conf"
cat >"$CONF" <<'EOF'
accounts {
  A: {
    users: [{user: a, password: a}]
    exports: [{stream: "bench.>"}, {service: "svc.>"}]
  }
  B: {
    users: [{user: b, password: b}]
    imports: [
      {stream: {account: A, subject: "bench.>"}, prefix: "froma"}
      {service: {account: A, subject: "svc.>"}}
    ]
  }
}
EOF

SCENARIOS=${*:-"direct16 stream16 service16 req16 svcreq16"}
n_of() { awk -v b="$1" -v s="$SCALE" 'BEGIN{v=int(b*s); if(v<1)v=1; print v}'; }

pick_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 12000))
    ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null | grep -q . || { echo "$p"; return; }
  done
  exit 1
}

run_scenario() { # $1 port $2 scenario
  local u="nats://127.0.0.1:$1" a b
  a="nats://a:a@127.0.0.1:$1"
  b="nats://b:b@127.0.0.1:$1"
  case $2 in
    direct16) "$XACCT" pubsub -name "$2" -pub "$a" -sub "$a" -pubsubj bench.ps -subsubj bench.ps -n "$(n_of 2000000)" -t "$TIME" ;;
    stream16) "$XACCT" pubsub -name "$2" -pub "$a" -sub "$b" -pubsubj bench.ps -subsubj froma.bench.ps -n "$(n_of 2000000)" -t "$TIME" ;;
    service16) "$XACCT" pubsub -name "$2" -pub "$b" -sub "$a" -pubsubj svc.bench -subsubj svc.bench -n "$(n_of 2000000)" -t "$TIME" ;;
    req16) "$XACCT" request -name "$2" -req "$a" -resp "$a" -reqsubj svc.bench -respsubj svc.bench -n "$(n_of 200000)" -c 16 -t "$TIME" ;;
    svcreq16) "$XACCT" request -name "$2" -req "$b" -resp "$a" -reqsubj svc.bench -respsubj svc.bench -n "$(n_of 200000)" -c 16 -t "$TIME" ;;
    *) echo "RESULT scenario=$2 ok=0 error=unknown_scenario" ;;
  esac
  : "$u"
}

RESULTS="$TMP/accounts-$(date +%Y%m%d-%H%M%S).txt"
for r in $(seq "$ROUNDS"); do
  for side in A B; do
    for s in $SCENARIOS; do
      cmd=$([ $side = A ] && echo "$SERVER_A" || echo "$SERVER_B")
      port=$(pick_port)
      cmd=${cmd//CONF/$CONF}
      cmd=${cmd//PORT/$port}
      setsid bash -c "exec $cmd" >"$TMP/accounts-server-$side.log" 2>&1 </dev/null &
      pgid=$!
      for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
      line=$(run_scenario "$port" "$s" 2>&1 | grep '^RESULT' | tail -1)
      echo "side=$side round=$r $line" | tee -a "$RESULTS"
      kill -TERM -- "-$pgid" 2>/dev/null
      wait "$pgid" 2>/dev/null
    done
  done
done

echo
awk '
function median(s,   a, n, i, j, t) {
  n = split(s, a, " ")
  for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j+1] = a[j]; a[j+1] = t }
  return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
{
  side = ""; scn = ""; delete kv
  for (i = 1; i <= NF; i++) { p = index($i, "="); if (p) kv[substr($i, 1, p-1)] = substr($i, p+1) }
  side = kv["side"]; scn = kv["scenario"]
  if (!(scn in seen)) { seen[scn] = 1; order[++ns] = scn }
  if (kv["ok"] == "1") { v[scn, side] = v[scn, side] " " kv["msgs_per_sec"]; if ("p50_us" in kv) p50[scn, side] = p50[scn, side] " " kv["p50_us"] }
}
END {
  printf "%-12s %14s %14s %8s\n", "scenario", "A msgs/s", "B msgs/s", "B/A"
  for (i = 1; i <= ns; i++) {
    s = order[i]; a = median(v[s, "A"]); b = median(v[s, "B"])
    printf "%-12s %14.0f %14.0f %8.3f\n", s, a, b, (a > 0 ? b / a : 0)
    if ((s, "A") in p50) printf "%-12s %14s %14s\n", "  p50 us", median(p50[s, "A"]), median(p50[s, "B"])
  }
}' "$RESULTS"
echo "# results: $RESULTS"
