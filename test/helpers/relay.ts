// A TCP relay between a test's servers: latency to add (each chunk forwarded `delayMs` after it
// arrived, in order, so the round trip seen by the two sides grows by twice that) and the bytes
// that crossed it each way (what a link really puts on the wire).
import net from "node:net";

export interface Relay {
  readonly port: number;
  delayMs: number;
  /** Bytes sent towards the target, and back from it. */
  readonly toTarget: number;
  readonly fromTarget: number;
  close(): Promise<void>;
}

export async function startRelay(targetPort: number): Promise<Relay> {
  const sockets = new Set<net.Socket>();
  const counts = { toTarget: 0, fromTarget: 0 };
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host: "127.0.0.1", port: targetPort });
    sockets.add(inbound).add(outbound);
    const pipe = (from: net.Socket, to: net.Socket, count: "toTarget" | "fromTarget"): void => {
      let chain = Promise.resolve();
      from.on("data", (d: Buffer) => {
        counts[count] += d.length;
        const delay = relay.delayMs;
        chain = chain.then(() => (delay > 0 ? new Promise((r) => setTimeout(r, delay)) : undefined)).then(() => void (to.destroyed || to.write(d)));
      });
      from.on("close", () => void chain.then(() => to.destroy()));
      from.on("error", () => to.destroy());
    };
    pipe(inbound, outbound, "toTarget");
    pipe(outbound, inbound, "fromTarget");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const relay: Relay = {
    port: (server.address() as net.AddressInfo).port,
    delayMs: 0,
    get toTarget() {
      return counts.toTarget;
    },
    get fromTarget() {
      return counts.fromTarget;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return relay;
}
