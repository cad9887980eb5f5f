// Shared test helper: a minimal SOCKS5 proxy on 127.0.0.1 (RFC 1928 CONNECT, with no
// authentication or RFC 1929 username/password), relaying to the requested host. It records
// the destinations it connected to, so a test can show that a client's traffic went through it.
import net from "node:net";

export interface Socks5Proxy {
  port: number;
  url: string;
  /** "host:port" of every CONNECT it carried out */
  readonly connects: string[];
  close(): Promise<void>;
}

export async function startSocks5(auth?: { user: string; password: string }): Promise<Socks5Proxy> {
  const connects: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => client.destroy());
    let buf = Buffer.alloc(0);
    let stage: "greeting" | "auth" | "request" | "relay" = "greeting";
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (stage === "greeting") {
          if (buf.length < 2 || buf.length < 2 + buf[1]) return;
          const methods = [...buf.subarray(2, 2 + buf[1])];
          buf = buf.subarray(2 + buf[1]);
          const want = auth ? 2 : 0;
          if (!methods.includes(want)) {
            client.end(Buffer.from([5, 0xff]));
            return;
          }
          client.write(Buffer.from([5, want]));
          stage = auth ? "auth" : "request";
        } else if (stage === "auth") {
          if (buf.length < 2) return;
          const ulen = buf[1];
          if (buf.length < 3 + ulen) return;
          const plen = buf[2 + ulen];
          if (buf.length < 3 + ulen + plen) return;
          const user = buf.subarray(2, 2 + ulen).toString();
          const password = buf.subarray(3 + ulen, 3 + ulen + plen).toString();
          buf = buf.subarray(3 + ulen + plen);
          const ok = user === auth!.user && password === auth!.password;
          client.write(Buffer.from([1, ok ? 0 : 1]));
          if (!ok) return void client.end();
          stage = "request";
        } else if (stage === "request") {
          if (buf.length < 5) return;
          const atyp = buf[3];
          let host: string;
          let off: number;
          if (atyp === 1) {
            if (buf.length < 10) return;
            host = [...buf.subarray(4, 8)].join(".");
            off = 8;
          } else if (atyp === 3) {
            if (buf.length < 5 + buf[4] + 2) return;
            host = buf.subarray(5, 5 + buf[4]).toString();
            off = 5 + buf[4];
          } else {
            client.end(Buffer.from([5, 8, 0, 1, 0, 0, 0, 0, 0, 0]));
            return;
          }
          const port = buf.readUInt16BE(off);
          buf = buf.subarray(off + 2);
          stage = "relay";
          client.off("data", onData);
          client.pause();
          const upstream = net.connect(port, host, () => {
            connects.push(`${host}:${port}`);
            client.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]));
            if (buf.length > 0) upstream.write(buf);
            client.pipe(upstream);
            upstream.pipe(client);
            client.resume();
          });
          sockets.add(upstream);
          upstream.on("close", () => {
            sockets.delete(upstream);
            client.destroy();
          });
          upstream.on("error", () => {
            if (stage === "relay" && !upstream.remoteAddress) client.end(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]));
            upstream.destroy();
          });
          client.on("close", () => upstream.destroy());
          return;
        } else return;
      }
    };
    client.on("data", onData);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `socks5://${auth ? `${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.password)}@` : ""}127.0.0.1:${port}`,
    connects,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
