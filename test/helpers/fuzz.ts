// Shared test helper: a seeded generator of client-protocol input for fuzzing, both
// "op soup" (ops well- and ill-formed, in random case, with odd blanks and line ends) and
// byte-level mutations of a valid session.

/** mulberry32: small, fast, seedable. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class ProtoFuzzer {
  constructor(readonly rnd: () => number) {}
  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  randomCase(s: string): string {
    let out = "";
    for (const ch of s) out += this.rnd() < 0.5 ? ch.toLowerCase() : ch.toUpperCase();
    return out;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  subject(): string {
    return this.pick(["foo", "foo.bar", "foo.*", "foo.>", ">", "*", "a..b", ".a", "a.", "", "x y", "fuzz.t", "ünï.cødé", "a".repeat(this.int(300))]);
  }
  size(): string {
    return this.pick(["0", "1", "2", "5", "10", "-1", "x", "", "99999999999999", "1048577", String(this.int(40)), "3 4", "01"]);
  }
  sep(): string {
    return this.pick([" ", "\t", "  ", " \t ", ""]);
  }
  eol(): string {
    return this.pick(["\r\n", "\r\n", "\r\n", "\n", "\r", "", "\r\r\n"]);
  }
  json(): string {
    return this.pick([
      "{}",
      '{"verbose":false,"pedantic":false}',
      '{"verbose":true}',
      '{"headers":true,"no_responders":true}',
      '{"no_responders":true}',
      '{"protocol":1}',
      '{"protocol":7}',
      '{"echo":false,"name":"fz"}',
      '{"verbose":"x"}',
      "{",
      "[]",
      "null",
      '{"user":"u","pass":"p"}',
    ]);
  }
  payload(): string {
    return this.pick(["", "hi", "hello", "\r\n", "PING\r\n", "x".repeat(this.int(64))]);
  }
  /** One op, well- or ill-formed. */
  op(): string {
    switch (this.int(12)) {
      case 0:
        return `${this.randomCase("PUB")}${this.sep()} ${this.subject()}${this.sep()}${this.size()}${this.eol()}${this.payload()}${this.eol()}`;
      case 1: {
        const p = this.payload();
        return `${this.randomCase("PUB")} ${this.subject()} ${this.rnd() < 0.5 ? "_INBOX.r " : ""}${p.length}\r\n${p}\r\n`;
      }
      case 2: {
        const h = this.pick(["NATS/1.0\r\n\r\n", "NATS/1.0\r\nA: b\r\n\r\n", "garbage", ""]);
        const p = this.payload();
        const hl = this.rnd() < 0.8 ? String(h.length) : this.size();
        return `${this.randomCase("HPUB")} ${this.subject()} ${hl} ${h.length + p.length}\r\n${h}${p}\r\n`;
      }
      case 3:
        return `${this.randomCase("SUB")}${this.sep()} ${this.subject()}${this.rnd() < 0.3 ? " q" : ""} ${this.pick(["1", "2", "s", ""])}${this.eol()}`;
      case 4:
        return `${this.randomCase("UNSUB")} ${this.pick(["1", "2", "", "1 1", "2 x", "1 2 3"])}${this.eol()}`;
      case 5:
        return `${this.randomCase("CONNECT")}${this.sep()}${this.json()}${this.eol()}`;
      case 6:
        return `${this.randomCase(this.pick(["PING", "PONG", "+OK"]))}${this.eol()}`;
      case 7:
        return `${this.randomCase(this.pick(["INFO", "-ERR", "MSG", "HMSG", "RS+", "LS+", "A+"]))} ${this.json()}${this.eol()}`;
      case 8:
        return this.bytes(this.int(12)).toString("latin1");
      case 9:
        return this.pick(["\r\n", "\n", " ", "\t", "\0"]);
      case 10:
        return `${this.randomCase(this.pick(["PU", "SU", "UNSU", "CONNEC", "PIN", "HPU", "INF"]))}${this.eol()}`;
      default:
        return `PUB foo ${this.size()}\r\n${this.payload()}\r\n`;
    }
  }
  /** A valid session, then 1..4 byte-level mutations. */
  mutated(): Buffer {
    const base = Buffer.from(
      'CONNECT {"verbose":true,"headers":true}\r\nSUB foo.* 1\r\nSUB > q 2\r\nPUB foo.bar r 5\r\nhello\r\n' +
        "HPUB foo.h 12 14\r\nNATS/1.0\r\n\r\nhi\r\nUNSUB 1 1\r\nPING\r\nPUB foo.x 0\r\n\r\n",
      "latin1",
    );
    let b = Buffer.from(base);
    const n = 1 + this.int(4);
    for (let k = 0; k < n; k++) {
      const i = this.int(b.length);
      switch (this.int(6)) {
        case 0:
          b[i] = this.int(256);
          break;
        case 1:
          b = Buffer.concat([b.subarray(0, i), this.bytes(1 + this.int(3)), b.subarray(i)]);
          break;
        case 2:
          b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1 + this.int(4))]);
          break;
        case 3:
          b = b.subarray(0, i);
          break;
        case 4:
          b[i] = this.pick([0x0d, 0x0a, 0x20, 0x09, 0x30 + this.int(10)]);
          break;
        default: {
          const j = this.int(b.length);
          b = Buffer.concat([b.subarray(0, Math.max(i, j)), b.subarray(Math.min(i, j), Math.max(i, j)), b.subarray(Math.max(i, j))]);
        }
      }
      if (b.length === 0) break;
    }
    return b;
  }
  next(): { kind: string; data: Buffer } {
    const r = this.rnd();
    if (r < 0.25) return { kind: "random", data: this.bytes(1 + this.int(200)) };
    if (r < 0.65) {
      let s = "";
      const n = 1 + this.int(6);
      for (let i = 0; i < n; i++) s += this.op();
      return { kind: "ops", data: Buffer.from(s, "latin1") };
    }
    return { kind: "mutated", data: this.mutated() };
  }
}

