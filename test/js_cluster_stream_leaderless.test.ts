// A member of a stream's group left alone (an R2 stream whose other server stopped; the meta group
// keeps its quorum) answers the stream's info from its own copy, side by side with three
// nats-server 2.15 servers (both run as processes from the same configuration files).
// nats-server's member of a group without a leader answers STREAM.INFO itself (no leader named,
// itself listed current, the other member not and offline), and a purge, a message get and the
// info of the stream's consumer (its group has no leader either) with 10008 "JetStream system
// temporarily unavailable" at once. tsnats answered the info 10008 too.
import { connect } from "@nats-io/transport-node";
import { sideBySideTests, type RefJsCluster } from "./helpers/ref_js_cluster.js";
import { ask, askUntil, fromOwnCopy, shape, streamWithDurable } from "./helpers/leaderless.js";

async function scenario(c: RefJsCluster): Promise<Record<string, string>> {
  const setup = await connect({ servers: c.urls[0] });
  let kept = "";
  try {
    // The leader stops: the member left is a follower that knew it.
    const [leader, follower] = await streamWithDurable(setup, "TWO", 2);
    kept = follower;
    await c.stopServer(Number(leader.slice(1)) - 1);
  } finally {
    await setup.close();
  }
  const nc = await connect({ servers: c.urls[Number(kept.slice(1)) - 1] });
  try {
    const out: Record<string, string> = {};
    const info = await askUntil(nc, "$JS.API.STREAM.INFO.TWO", undefined, fromOwnCopy(kept), 40_000);
    // (Which server stopped differs from run to run: named by its part.)
    out.streamInfo = shape(info).replace(kept, "kept").replace(/N[123]/, "stopped").replace("stopped offline, kept current", "kept current, stopped offline");
    out.consumerInfo = shape(await askUntil(nc, "$JS.API.CONSUMER.INFO.TWO.C", undefined, (a) => a.error !== undefined, 30_000));
    out.purge = shape(await ask(nc, "$JS.API.STREAM.PURGE.TWO", {}));
    out.msgGet = shape(await ask(nc, "$JS.API.STREAM.MSG.GET.TWO", { seq: 1 }));
    return out;
  } finally {
    await nc.close();
  }
}

const UNAVAILABLE = "503 10008 JetStream system temporarily unavailable";

sideBySideTests("the member left of an R2 stream's group answers its info from its copy", 3, scenario, {
  streamInfo: "leader none; replicas kept current, stopped offline; 2 messages",
  consumerInfo: UNAVAILABLE,
  purge: UNAVAILABLE,
  msgGet: UNAVAILABLE,
});
