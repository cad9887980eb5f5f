#!/usr/bin/env bash
# power_loss_loop.sh 'SERVER COMMAND' [ACKS] [TOTAL]
#   A power loss under any server, tsnats or nats-server (whose Go binary no test seam can
#   reach): its store lives on an ext4 file system in a loop device backed by an image file.
#   The image file holds exactly what the "disk" received: written-back and fsynced blocks,
#   not the dirty pages still in the kernel's cache. A publisher sends TOTAL messages with
#   acks (256 in flight) to a file stream; after ACKS acks it stops the server (SIGSTOP, so
#   nothing more is written), copies the image (the disk after a power cut at that moment),
#   and kills it. The copy is mounted and a fresh server started on it (the same command)
#   counts what survived: every acknowledged message should be there.
#   Needs root, losetup, mkfs.ext4. STORE in the command is replaced by the store directory,
#   PORT by a port. Run by hand (timing: the kernel writes dirty pages back after ~30 s, so a
#   cut seconds after the acks shows what was not fsynced).
#   e.g. bench/power_loss_loop.sh "$(../shared/tools/nats-server-ref.sh) -js -sd STORE -p PORT"
#        bench/power_loss_loop.sh 'node dist/src/bin/tsnats-server.js -a 127.0.0.1 -js -sd STORE -p PORT'
set -euo pipefail
[ $# -lt 1 ] && { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
SERVER=$1
ACKS=${2:-20000}
TOTAL=${3:-100000}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
W=$(mktemp -d /tmp/powerloss.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
LOOP1=""; LOOP2=""; SPID=""
cleanup() {
  [ -n "$SPID" ] && kill -KILL "$SPID" 2>/dev/null || true
  mountpoint -q "$W/live" && umount -l "$W/live" || true
  mountpoint -q "$W/after" && umount "$W/after" || true
  [ -n "$LOOP1" ] && losetup -d "$LOOP1" 2>/dev/null || true
  [ -n "$LOOP2" ] && losetup -d "$LOOP2" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
truncate -s 512M "$W/disk.img"
mkfs.ext4 -q -F "$W/disk.img"
LOOP1=$(losetup -f --show "$W/disk.img")
mkdir -p "$W/live" "$W/after"
mount "$LOOP1" "$W/live"
sync # the empty file system itself is on the disk

start() { # $1 = store dir; starts the server, sets SPID
  local cmd
  cmd=$(printf '%s' "$SERVER" | sed -E "s#\bSTORE\b#$1#g; s/\bPORT\b/$PORT/g")
  setsid bash -c "exec $cmd" >"$W/server.log" 2>&1 </dev/null &
  SPID=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0; sleep 0.1; done
  echo "server did not start"; tail -5 "$W/server.log"; exit 1
}

start "$W/live/js"
cat >"$W/pub.mjs" <<'EOF'
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
const [url, acksWanted, total, pid, img, copy, ackFile] = process.argv.slice(2);
const nc = await connect({ servers: url });
const jsm = await jetstreamManager(nc);
await jsm.streams.add({ name: "PL", subjects: ["pl.>"], storage: "file" });
const js = jetstream(nc);
const acked = [];
let inflight = 0, next = 0, cut = false;
await new Promise((resolve) => {
  const pump = () => {
    while (!cut && inflight < 256 && next < Number(total)) {
      const i = next++;
      inflight++;
      js.publish(`pl.${i % 5}`, Buffer.from(`msg-${i}-`.padEnd(100, "x"))).then((a) => {
        inflight--;
        if (cut) return;
        acked.push(a.seq);
        if (acked.length >= Number(acksWanted)) {
          cut = true;
          // the power goes out: nothing more reaches the disk, which is what the image holds
          process.kill(Number(pid), "SIGSTOP");
          execFileSync("cp", ["--sparse=always", img, copy]);
          process.kill(Number(pid), "SIGKILL");
          resolve();
          return;
        }
        pump();
      }, () => { inflight--; });
    }
  };
  pump();
});
fs.writeFileSync(ackFile, JSON.stringify({ acked: acked.length, maxSeq: Math.max(...acked) }));
await nc.close().catch(() => {});
process.exit(0);
EOF
cp "$W/pub.mjs" "$ROOT/.power_loss_pub.mjs"
node "$ROOT/.power_loss_pub.mjs" "nats://127.0.0.1:$PORT" "$ACKS" "$TOTAL" "$SPID" "$W/disk.img" "$W/after.img" "$W/acked.json" || true
rm -f "$ROOT/.power_loss_pub.mjs"
SPID=""
umount -l "$W/live"; losetup -d "$LOOP1"; LOOP1=""
LOOP2=$(losetup -f --show "$W/after.img")
mount "$LOOP2" "$W/after" # replays the ext4 journal, as a reboot would
start "$W/after/js"
cat >"$W/count.mjs" <<'EOF'
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import fs from "node:fs";
const [url, ackFile] = process.argv.slice(2);
const a = JSON.parse(fs.readFileSync(ackFile, "utf8"));
const nc = await connect({ servers: url });
const jsm = await jetstreamManager(nc);
let st = { messages: 0, last_seq: 0 };
try { st = (await jsm.streams.info("PL")).state; } catch (e) { console.log(`stream PL: ${e.message}`); }
const lost = Math.max(0, a.maxSeq - st.last_seq);
console.log(`RESULT acked=${a.acked} max_acked_seq=${a.maxSeq} recovered_msgs=${st.messages} recovered_last_seq=${st.last_seq} acked_lost=${lost}`);
await nc.close();
EOF
cp "$W/count.mjs" "$ROOT/.power_loss_count.mjs"
node "$ROOT/.power_loss_count.mjs" "nats://127.0.0.1:$PORT" "$W/acked.json"
rm -f "$ROOT/.power_loss_count.mjs"
