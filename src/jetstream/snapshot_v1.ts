// Backups in the format nats-server wrote before 2.15: a tar of its file-store directory
// (meta.inf, msgs/N.blk, obs/<consumer>/...). Reading them is not implemented yet: such a
// restore fails with a clear error instead of restoring something partial.
import type { JsAccount } from "./jetstream.js";
import type { RestoreSink } from "./snapshot.js";
import type { Stream } from "./stream.js";
import type { StreamConfig } from "./stream_config.js";

export function restoreV1(_jsa: JsAccount, _cfg: StreamConfig): RestoreSink {
  const refuse = (): never => {
    throw new Error("this backup is in the tar format of nats-server 2.14 and older, which tsnats can not restore yet (restore it into nats-server 2.15 and back it up again)");
  };
  return {
    push: () => refuse(),
    finish: (): Stream => refuse(),
    abort: () => {},
  };
}
