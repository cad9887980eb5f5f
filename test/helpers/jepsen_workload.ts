// The clients of the random Jepsen-style scheduler (js_cluster_jepsen_random.test.ts), each
// recording what it was told, for the checks in jepsen_checks.ts:
//  - publishers, one per server, sending unique payloads to stream J with Nats-Msg-Id, each
//    retried until answered (the de-duplication window keeps a retry from storing it twice);
//  - compare-and-set clients on a KV-like stream (one subject per key): read the key's last
//    sequence, then publish a new unique value expecting that sequence; a "wrong last
//    sequence" answer is a refusal the checks hold the server to, no answer is unknown;
//  - durable pull consumers on J acknowledging every message they get (at least once: the
//    checks want every acknowledged publish delivered).
import { connect, headers, type NatsConnection, type Msg } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NetnsJsCluster } from "./netns_js_cluster.js";
import type { CasOp, Op } from "./jepsen_checks.js";

export const STREAM = "J";
export const CAS_STREAM = "KV_CAS";
export const CAS_KEYS = ["a", "b", "c"];
export const casSubject = (key: string): string => `$KV.CAS.${key}`;
/** A compare-and-set payload names its key: `<key>:<client>-<n>`. */
export const keyOfCasPayload = (id: string): string | undefined => (id.includes(":") ? id.slice(0, id.indexOf(":")) : undefined);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const now = (): number => performance.now();

export class Workload {
  readonly publishes = new Map<string, Op>();
  readonly cas = new Map<string, CasOp>();
  /** consumer name -> payloads delivered to it. */
  readonly delivered = new Map<string, Set<string>>();
  /** Publish attempts that got no answer (retried). */
  unanswered = 0;
  private stopping = false;
  private stoppingConsumers = false;
  private readonly running: Array<Promise<void>> = [];
  private readonly consumersRunning: Array<Promise<void>> = [];
  private readonly errors: string[] = [];

  constructor(private readonly cluster: NetnsJsCluster) {}

  /**
   * A client's connection, tried again until one server answers: a client starts while the
   * schedule may already have killed or isolated its server, and its promise is awaited only
   * by stopWriters/stopConsumers, so a rejection here would surface as an unhandled rejection.
   */
  private async conn(node: number): Promise<NatsConnection> {
    for (;;) {
      try {
        const nc = await connect(this.cluster.clientOpts(node));
        this.cluster.conns.push(nc);
        return nc;
      } catch {
        await sleep(200);
      }
    }
  }

  /** Acknowledged publishes to J so far. */
  get acked(): number {
    let n = 0;
    for (const o of this.publishes.values()) if (o.seq !== undefined) n++;
    return n;
  }

  start(consumers: string[]): void {
    for (let node = 0; node < 3; node++) this.running.push(this.publisher(node));
    for (let c = 0; c < 2; c++) this.running.push(this.casClient(c));
    consumers.forEach((name, i) => {
      this.delivered.set(name, new Set());
      this.consumersRunning.push(this.consumer(name, i % 3));
    });
  }

  /** Publishers and compare-and-set clients stop (consumers go on until stopConsumers). */
  async stopWriters(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
  }

  async stopConsumers(): Promise<void> {
    this.stoppingConsumers = true;
    await Promise.all(this.consumersRunning);
  }

  /** Something a client saw that no fault explains (an id acknowledged at two sequences). */
  clientErrors(): string[] {
    return this.errors;
  }

  private async publisher(node: number): Promise<void> {
    const nc = await this.conn(node);
    const js = jetstream(nc, { timeout: 2000 });
    for (let k = 0; !this.stopping; k++) {
      const id = `p${node}-${k}`;
      const op: Op = { id, invokedAt: now() };
      this.publishes.set(id, op);
      while (!this.stopping) {
        try {
          const a = await js.publish(`j.${node}`, id, { msgID: id });
          if (op.seq !== undefined && op.seq !== a.seq) this.errors.push(`${id} acknowledged at ${op.seq} and again at ${a.seq}`);
          op.seq = a.seq;
          op.answeredAt = now();
          break;
        } catch {
          this.unanswered++;
          await sleep(50);
        }
      }
      // a pause between publishes keeps three servers and this process within a shared CPU
      await sleep(3);
    }
  }

  private async casClient(c: number): Promise<void> {
    const nc = await this.conn(c % 3);
    const js = jetstream(nc, { timeout: 2000 });
    // no $JS.API.INFO probe: unanswered while a fault leaves the meta group without a leader,
    // it rejected before this loop (which retries its own requests) began
    const jsm = await jetstreamManager(nc, { timeout: 2000, checkAPI: false });
    for (let n = 0; !this.stopping; n++) {
      const key = CAS_KEYS[n % CAS_KEYS.length];
      let expected: number;
      try {
        const last = await jsm.streams.getMessage(CAS_STREAM, { last_by_subj: casSubject(key) });
        expected = last === null ? 0 : last.seq;
      } catch {
        await sleep(100);
        continue;
      }
      const id = `${key}:c${c}-${n}`;
      const h = headers();
      h.set("Nats-Expected-Last-Subject-Sequence", String(expected));
      const op: CasOp = { id, key, expected, invokedAt: now() };
      this.cas.set(id, op);
      try {
        const a = await js.publish(casSubject(key), id, { headers: h });
        op.seq = a.seq;
        op.answeredAt = now();
      } catch (e) {
        const code = (e as { code?: number }).code;
        if (code === 10071 || /wrong last sequence/i.test((e as Error).message)) {
          op.refused = true;
          op.answeredAt = now();
        } else {
          await sleep(100);
        }
      }
      await sleep(5);
    }
  }

  /**
   * A durable pull consumer's client: pull requests of 50 (1 s expiry) on an inbox, each
   * message recorded and acknowledged; a pull that ends without a status is simply sent again.
   */
  private async consumer(name: string, node: number): Promise<void> {
    const nc = await this.conn(node);
    const got = this.delivered.get(name) as Set<string>;
    const inbox = `_INBOX.jepsen.${name}.${node}`;
    const BATCH = 50;
    let inBatch = 0;
    let batchDone: (() => void) | undefined;
    const sub = nc.subscribe(inbox, {
      callback: (_err, m: Msg) => {
        const status = m.headers?.code ?? 0;
        if (status !== 0 && m.data.length === 0) {
          batchDone?.();
          return;
        }
        got.add(new TextDecoder().decode(m.data));
        if (m.reply !== undefined && m.reply !== "") nc.publish(m.reply, "+ACK");
        if (++inBatch >= BATCH) batchDone?.();
      },
    });
    while (!this.stoppingConsumers) {
      inBatch = 0;
      const done = new Promise<void>((r) => {
        batchDone = r;
        setTimeout(r, 2500);
      });
      try {
        nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${STREAM}.${name}`, JSON.stringify({ batch: BATCH, expires: 1_000_000_000 }), { reply: inbox });
      } catch {
        // connection closed or reconnecting: try again
      }
      await done;
    }
    sub.unsubscribe();
  }
}
