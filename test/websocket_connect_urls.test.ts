// WebSocket connect URLs in a cluster: each server tells its peers its WebSocket URLs over the
// route (ws_connect_urls), and a WebSocket client's INFO lists the cluster's WebSocket URLs as
// its connect_urls (a TCP client's lists the NATS ports), updated by async INFO as peers come
// and go, and shown by /varz as ws_connect_urls. The same scenario runs on clusters of tsnats,
// of nats-server 2.15 and of both mixed, and every client must see the same thing.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { CONNECT_INFO, RawConn } from "./helpers/raw.js";
import { referenceBinary, startNatsServer, type ReferenceServer } from "./helpers/nats_server.js";
import { waitUntil } from "./helpers/server.js";

const skipRef = referenceBinary("2.15") === undefined ? "nats-server 2.15 not available" : false;
type Line = "tsnats" | "2.15";

function config(name: string, routes: string[]): string {
  return `
server_name: ${name}
http: "127.0.0.1:-1"
websocket { host: 127.0.0.1, port: -1, no_tls: true }
cluster { name: wsurls, listen: "127.0.0.1:-1"${routes.length > 0 ? `, routes: [${routes.map((r) => `"${r}"`).join(", ")}]` : ""} }
`;
}

function start(line: Line, name: string, routes: string[] = []): Promise<ReferenceServer> {
  return startNatsServer([], config(name, routes), line);
}

/** A raw WebSocket client: everything the server sent, as text. */
class WsClient {
  text = "";
  private constructor(private readonly ws: WebSocket) {
    ws.on("message", (d: Buffer) => (this.text += d.toString("latin1")));
  }

  static async open(url: string): Promise<WsClient> {
    const ws = new WebSocket(url);
    const c = new WsClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return c;
  }

  send(s: string): void {
    this.ws.send(Buffer.from(s));
  }

  close(): void {
    this.ws.terminate();
  }
}

/** The connect_urls of every INFO in `text`, in order (null: an INFO without any). */
function infoUrls(text: string): Array<string[] | null> {
  const out: Array<string[] | null> = [];
  for (const m of text.matchAll(/INFO (\{[^\r\n]*\}) \r\n/g)) {
    const info = JSON.parse(m[1]) as Record<string, unknown>;
    assert.equal(info.ws_connect_urls, undefined, "no client INFO carries ws_connect_urls");
    out.push((info.connect_urls as string[] | undefined) ?? null);
  }
  return out;
}

const CONNECT = `CONNECT {"verbose":false,"protocol":1}\r\nPING\r\n`;

/** What the clients of a two-server cluster saw, with URLs replaced by labels (A.ws, B.nats...). */
async function scenario(lineA: Line, lineB: Line): Promise<Record<string, unknown>> {
  const a = await start(lineA, "A");
  let b: ReferenceServer | undefined;
  const clients: Array<{ close(): void }> = [];
  try {
    const labels = new Map<string, string>();
    const label = (srv: ReferenceServer, n: string): void => {
      labels.set(new URL(srv.ports.nats?.[0] ?? "").host, `${n}.nats`);
      labels.set(new URL(srv.ports.websocket?.[0] ?? "").host, `${n}.ws`);
    };
    // Own URL first, then the peers' (in no particular order on nats-server).
    const named = (urls: string[] | null): string[] | null => {
      if (urls === null) return null;
      const l = urls.map((u) => labels.get(u) ?? `?${u}`);
      return [l[0], ...l.slice(1).sort()];
    };
    label(a, "A");
    const wsA = await WsClient.open(a.ports.websocket?.[0] ?? "");
    clients.push(wsA);
    wsA.send(CONNECT);
    await waitUntil(() => CONNECT_INFO.test(wsA.text), 10_000, "the WebSocket client's connect INFO");
    const tcpA = await RawConn.connect(a.port);
    clients.push(tcpA);
    tcpA.send(CONNECT);
    await tcpA.waitFor(CONNECT_INFO, 10_000);
    const out: Record<string, unknown> = { alone: { ws: infoUrls(wsA.text).map(named), tcp: [tcpA.info.connect_urls ?? null, ...infoUrls(tcpA.text())].map((u) => named(u as string[] | null)) } };

    b = await start(lineB, "B", [a.ports.cluster?.[0] ?? ""]);
    label(b, "B");
    const two = (u: string[] | null): boolean => u !== null && u.length === 2;
    await waitUntil(() => infoUrls(wsA.text).some(two) && infoUrls(tcpA.text()).some(two), 15_000, "async INFO with the peer's URLs");
    const varz = (await (await fetch(`${a.monitorUrl}/varz`)).json()) as Record<string, unknown>;
    out.peerJoined = {
      ws: infoUrls(wsA.text).map(named),
      tcp: infoUrls(tcpA.text()).map(named),
      varzWs: named((varz.ws_connect_urls as string[] | undefined) ?? null),
      varzNats: named((varz.connect_urls as string[] | undefined) ?? null),
    };
    // A WebSocket client of the new server (once it registered the route too) learns both from
    // its first INFO.
    const bVarz = `${b.monitorUrl}/varz`;
    for (let i = 0; ; i++) {
      const v = (await (await fetch(bVarz)).json()) as { ws_connect_urls?: string[] };
      if (v.ws_connect_urls?.length === 2) break;
      if (i > 300) assert.fail("B never listed both WebSocket URLs");
      await new Promise((r) => setTimeout(r, 50));
    }
    const wsB = await WsClient.open(b.ports.websocket?.[0] ?? "");
    clients.push(wsB);
    const initialB = await new Promise<string>((resolve) => {
      const check = setInterval(() => {
        if (wsB.text.includes("\r\n")) {
          clearInterval(check);
          resolve(wsB.text);
        }
      }, 5);
    });
    wsB.send(CONNECT);
    await waitUntil(() => CONNECT_INFO.test(wsB.text), 10_000, "B's WebSocket client's connect INFO");
    out.newClientOfB = { initial: infoUrls(initialB).map(named), all: infoUrls(wsB.text).map(named) };

    const before = { ws: infoUrls(wsA.text).length, tcp: infoUrls(tcpA.text()).length };
    await b.stop();
    b = undefined;
    await waitUntil(
      () => infoUrls(wsA.text).length > before.ws && infoUrls(tcpA.text()).length > before.tcp,
      15_000,
      "async INFO without the peer",
    );
    out.peerLeft = { ws: infoUrls(wsA.text).slice(before.ws).map(named), tcp: infoUrls(tcpA.text()).slice(before.tcp).map(named) };
    return out;
  } finally {
    for (const c of clients) c.close();
    await Promise.all([a.stop(), b?.stop()]);
  }
}

describe("WebSocket connect URLs in a cluster (ws_connect_urls)", () => {
  // What nats-server 2.15 shows (the initial INFO, then the one after CONNECT, then async ones).
  const expected = {
    alone: { ws: [null, null], tcp: [null, null] },
    peerJoined: {
      ws: [null, null, ["A.ws", "B.ws"]],
      tcp: [null, ["A.nats", "B.nats"]],
      varzWs: ["A.ws", "B.ws"],
      varzNats: ["A.nats", "B.nats"],
    },
    newClientOfB: { initial: [["B.ws", "A.ws"]], all: [["B.ws", "A.ws"], ["B.ws", "A.ws"]] },
    peerLeft: { ws: [["A.ws"]], tcp: [["A.nats"]] },
  };

  it("tsnats: WebSocket clients get the cluster's WebSocket URLs, TCP clients the NATS ones", async () => {
    assert.deepEqual(await scenario("tsnats", "tsnats"), expected);
  });

  it("nats-server 2.15 behaves the same, alone and mixed with tsnats either way", { skip: skipRef }, async () => {
    const [ref, mixed1, mixed2] = await Promise.all([scenario("2.15", "2.15"), scenario("tsnats", "2.15"), scenario("2.15", "tsnats")]);
    assert.deepEqual(ref, expected, "2.15 alone");
    assert.deepEqual(mixed1, expected, "tsnats seeing a 2.15 peer");
    assert.deepEqual(mixed2, expected, "2.15 seeing a tsnats peer");
  });
});
