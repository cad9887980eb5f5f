// One request to each of several API subjects (a stream's or consumer's INFO, answered by the
// server that holds it), the answers gathered on one inbox until all came or the wait ended:
// how a cluster's list requests collect what other servers hold.
import type { Account } from "../server/account.js";

/**
 * Ask `subjects` (empty bodies) from `acc`; `done` gets each answer as parsed JSON without its
 * `type`, or undefined for an error, a bad answer or none within `waitMs`.
 */
export function askEach(acc: Account, self: string, subjects: string[], waitMs: number, done: (answers: Array<Record<string, unknown> | undefined>) => void, name: string): void {
  const inbox = `$JSC.ASK.${self}.${Math.random().toString(36).slice(2)}`;
  const answers: Array<Record<string, unknown> | undefined> = subjects.map(() => undefined);
  let answered = 0;
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    acc.unsubscribeInternal(sub);
    done(answers);
  };
  const sub = acc.subscribeInternal(
    `${inbox}.*`,
    (subject, _r, _h, payload) => {
      const i = Number(subject.substring(inbox.length + 1));
      if (!(i >= 0 && i < subjects.length)) return;
      try {
        const info = JSON.parse(payload.toString()) as Record<string, unknown>;
        if (info.error === undefined) {
          delete info.type;
          answers[i] = info;
        }
      } catch {
        // not an answer
      }
      if (++answered === subjects.length) queueMicrotask(finish);
    },
    undefined,
    name,
  );
  const timer = setTimeout(finish, waitMs);
  timer.unref();
  if (subjects.length === 0) queueMicrotask(finish);
  subjects.forEach((s, i) => acc.publish(s, `${inbox}.${i}`, undefined, Buffer.alloc(0)));
}
