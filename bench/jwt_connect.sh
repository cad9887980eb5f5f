#!/usr/bin/env bash
# Connection rate, nats-server (A) and tsnats (B) side by side, in the manner of
# ../shared/bench/compare.sh: a fresh server per run, A B A B ... for ROUNDS rounds, medians
# and the ratio B/A. The load generator (bench/jwtconn/main.go, built like the harness's
# natsbench against Debian's nats.go) makes connections that log in, complete a round trip
# and close, C at a time.
#
#   bench/jwt_connect.sh [scenario ...]      default: all of them
#   ROUNDS=3 BENCH_SCALE=1 BENCH_TIME=8 CONC=8 SERVER_A='nats-server cmd' SERVER_B='tsnats cmd'
#
# Scenarios:
#   plain      no authentication (the baseline)
#   userpass   a user and password from the config
#   creds      operator mode: a user JWT and nonce signature from a .creds file (memory resolver)
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CACHE=${BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nats-bench}
TMP=${BENCH_TMP:-${TMPDIR:-/tmp}/nats-bench}
ROUNDS=${ROUNDS:-3}
SCALE=${BENCH_SCALE:-1}
TIME=${BENCH_TIME:-8}
CONC=${CONC:-8}
REF=$("$ROOT/../shared/tools/nats-server-ref.sh" 2>/dev/null || command -v nats-server)
SERVER_A=${SERVER_A:-"$REF -c CONF -a 127.0.0.1 -p PORT"}
SERVER_B=${SERVER_B:-"node $ROOT/dist/src/bin/tsnats-server.js -c CONF -a 127.0.0.1 -p PORT"}
GEN="$CACHE/jwtconn"
mkdir -p "$CACHE" "$TMP"

if [ ! -x "$GEN" ] || [ "$HERE/jwtconn/main.go" -nt "$GEN" ]; then
  (cd "$HERE/jwtconn" && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= timeout 300 go build -o "$GEN" .) || { echo "build failed" >&2; exit 1; }
fi

# Operator, system account, account and user made with @nats-io/jwt (the repo's dependency).
( cd "$ROOT" && node --input-type=module - "$TMP" ) <<'EOF_JS' || { echo "could not make the JWTs" >&2; exit 1; }
import fs from "node:fs";
import { createAccount, createOperator, createUser } from "@nats-io/nkeys";
import { encodeAccount, encodeOperator, encodeUser, fmtCreds } from "@nats-io/jwt";
const dir = process.argv[2];
const op = createOperator(), sys = createAccount(), acc = createAccount(), user = createUser();
const unlimited = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
const opJwt = await encodeOperator("BENCH", op, { system_account: sys.getPublicKey() });
const sysJwt = await encodeAccount("SYS", sys, { limits: unlimited }, { signer: op });
const accJwt = await encodeAccount("APP", acc, { limits: unlimited }, { signer: op });
fs.writeFileSync(`${dir}/jwt-bench.creds`, fmtCreds(await encodeUser("bench", user, acc), user));
fs.writeFileSync(`${dir}/jwt-bench-creds.conf`,
  `operator: ${opJwt}\nsystem_account: ${sys.getPublicKey()}\nresolver: MEMORY\nresolver_preload {\n  ${sys.getPublicKey()}: ${sysJwt}\n  ${acc.getPublicKey()}: ${accJwt}\n}\n`);
fs.writeFileSync(`${dir}/jwt-bench-userpass.conf`, "authorization { users: [ { user: bench, password: s3cret } ] }\n");
fs.writeFileSync(`${dir}/jwt-bench-plain.conf`, "# no authentication\n");
EOF_JS

SCENARIOS=${*:-"plain userpass creds"}
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
  case $2 in
    plain) "$GEN" -name "$2" -url "nats://127.0.0.1:$1" -n "$(n_of 50000)" -c "$CONC" -t "$TIME" ;;
    userpass) "$GEN" -name "$2" -url "nats://bench:s3cret@127.0.0.1:$1" -n "$(n_of 50000)" -c "$CONC" -t "$TIME" ;;
    creds) "$GEN" -name "$2" -url "nats://127.0.0.1:$1" -creds "$TMP/jwt-bench.creds" -n "$(n_of 50000)" -c "$CONC" -t "$TIME" ;;
    *) echo "RESULT scenario=$2 ok=0 error=unknown_scenario" ;;
  esac
}

RESULTS="$TMP/jwt-connect-$(date +%Y%m%d-%H%M%S).txt"
for r in $(seq "$ROUNDS"); do
  for side in A B; do
    for s in $SCENARIOS; do
      cmd=$([ $side = A ] && echo "$SERVER_A" || echo "$SERVER_B")
      port=$(pick_port)
      cmd=${cmd//CONF/$TMP/jwt-bench-$s.conf}
      cmd=${cmd//PORT/$port}
      setsid bash -c "exec $cmd" >"$TMP/jwt-connect-server-$side.log" 2>&1 </dev/null &
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
  delete kv
  for (i = 1; i <= NF; i++) { p = index($i, "="); if (p) kv[substr($i, 1, p-1)] = substr($i, p+1) }
  side = kv["side"]; scn = kv["scenario"]
  if (!(scn in seen)) { seen[scn] = 1; order[++ns] = scn }
  if (kv["ok"] == "1") { v[scn, side] = v[scn, side] " " kv["conns_per_sec"]; p50[scn, side] = p50[scn, side] " " kv["p50_us"]; p99[scn, side] = p99[scn, side] " " kv["p99_us"] }
}
END {
  printf "%-10s %12s %12s %8s %18s %18s\n", "scenario", "A conns/s", "B conns/s", "B/A", "p50/p99 us A", "p50/p99 us B"
  for (i = 1; i <= ns; i++) {
    s = order[i]; a = median(v[s, "A"]); b = median(v[s, "B"])
    printf "%-10s %12.0f %12.0f %8.3f %18s %18s\n", s, a, b, (a > 0 ? b / a : 0), median(p50[s, "A"]) "/" median(p99[s, "A"]), median(p50[s, "B"]) "/" median(p99[s, "B"])
  }
}' "$RESULTS"
echo "# results: $RESULTS"
