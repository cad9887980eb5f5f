import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
const nc = await connect({ servers: process.argv[2] });
const jsm = await jetstreamManager(nc);
await jsm.streams.add({ name: "JSP", subjects: ["jsp.foo"] }).catch(() => {});
const js = jetstream(nc);
const data = new Uint8Array(16);
const N = 30000, W = 256;
let inflight = 0, wake;
const t0 = performance.now();
for (let i = 0; i < N; i++) {
  inflight++;
  js.publish("jsp.foo", data).then(() => { inflight--; const w = wake; wake = undefined; w?.(); });
  while (inflight >= W) await new Promise(r => wake = r);
}
while (inflight > 0) await new Promise(r => wake = r);
const s = (performance.now() - t0) / 1000;
console.log("msgs/s", Math.round(N / s), "cpu", process.cpuUsage());
await nc.close();
