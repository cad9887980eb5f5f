// A server whose meta group lost its quorum (the other two of three servers stopped) answers at
// once, side by side with three nats-server 2.15 servers (both run as processes from the same
// configuration files). nats-server, once its meta group has no leader, answers account info,
// stream names, lists, creates, updates, consumer creates and names, message gets with 10008
// "JetStream system temporarily unavailable" at once, the info of an R3 stream it is a member
// of (its group has no leader either) from its own copy (no leader named, itself current, the
// others not), the info of a consumer whose group has no leader 10008, and the info of a stream
// it does not know 10008 too (half a second later). tsnats held each of those up to 10 s (its
// wait for a meta leader) and then answered 10008: a client asking with a 5 s timeout got nothing.
import { connect } from "@nats-io/transport-node";
import { sideBySideTests, type RefJsCluster } from "./helpers/ref_js_cluster.js";
import { ask, askUntil, fromOwnCopy, shape, streamWithDurable } from "./helpers/leaderless.js";

const UNAVAILABLE = "503 10008 JetStream system temporarily unavailable";

async function scenario(c: RefJsCluster): Promise<Record<string, string>> {
  const setup = await connect({ servers: c.urls[0] });
  try {
    await streamWithDurable(setup, "S", 3);
  } finally {
    await setup.close();
  }
  await c.stopServer(1);
  await c.stopServer(2);
  const nc = await connect({ servers: c.urls[0] });
  try {
    const out: Record<string, string> = {};
    // nats-server's meta leader, when it was this one, leads on for up to 20 s before it steps down.
    out.names = shape(await askUntil(nc, "$JS.API.STREAM.NAMES", {}, (a) => a.error !== undefined, 60_000));
    out.accountInfo = shape(await ask(nc, "$JS.API.INFO"));
    out.list = shape(await ask(nc, "$JS.API.STREAM.LIST", {}));
    out.create = shape(await ask(nc, "$JS.API.STREAM.CREATE.T", { name: "T", subjects: ["t.>"], num_replicas: 1 }));
    out.update = shape(await ask(nc, "$JS.API.STREAM.UPDATE.S", { name: "S", subjects: ["S.>", "more"], num_replicas: 3 }));
    out.consumerCreate = shape(await ask(nc, "$JS.API.CONSUMER.CREATE.S.D", { stream_name: "S", config: { durable_name: "D", ack_policy: "explicit" } }));
    out.consumerNames = shape(await ask(nc, "$JS.API.CONSUMER.NAMES.S", {}));
    out.msgGet = shape(await ask(nc, "$JS.API.STREAM.MSG.GET.S", { seq: 1 }));
    out.unknownStreamInfo = shape(await ask(nc, "$JS.API.STREAM.INFO.NOPE"));
    // The stream's group leads on a little longer, and lists the others current a while.
    out.streamInfo = shape(await askUntil(nc, "$JS.API.STREAM.INFO.S", undefined, fromOwnCopy("N1"), 30_000));
    out.consumerInfo = shape(await askUntil(nc, "$JS.API.CONSUMER.INFO.S.C", undefined, (a) => a.error !== undefined, 30_000));
    return out;
  } finally {
    await nc.close();
  }
}

sideBySideTests("a server whose meta group lost its quorum answers what nats-server answers, at once", 3, scenario, {
  names: UNAVAILABLE,
  accountInfo: UNAVAILABLE,
  list: UNAVAILABLE,
  create: UNAVAILABLE,
  update: UNAVAILABLE,
  consumerCreate: UNAVAILABLE,
  consumerNames: UNAVAILABLE,
  msgGet: UNAVAILABLE,
  unknownStreamInfo: UNAVAILABLE,
  streamInfo: "leader none; replicas N1 current, N2 offline, N3 offline; 2 messages",
  consumerInfo: UNAVAILABLE,
});
