// Many deadlines behind one Node timer: items are kept in a min-heap by due time (ms since
// the epoch) and one unref'd setTimeout is armed for the earliest. Used where every
// connection (or stored object) has its own deadline, so thousands of them cost one timer
// and no closure each. An item sits in the queue at most once: adding it again moves it.
//
// With a slack, items due within `slackMs` of each other are served by one timer, each at most
// `slackMs` late: the server's PING checks are spread over time like the connections they
// belong to (a crowd connecting at 1000/s has about one first PING per millisecond), and a
// Node timer per item (its Timeout object, the timer list, the callback's microtask checkpoint
// and async hooks) cost more than the PING check itself.
export interface Deadlined {
  /** Position in the queue's heap; -1 when not queued. Owned by the queue. */
  deadlineIdx: number;
  /** When the item is due (ms since the epoch); meaningful while queued. */
  deadlineAt: number;
}

export class DeadlineQueue<T extends Deadlined> {
  private heap: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private stopped = false;

  /**
   * `fire` runs once per item when it is due (the item is out of the queue by then), at most
   * `slackMs` later.
   */
  constructor(
    private readonly fire: (item: T) => void,
    private readonly slackMs = 0,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  /** Queue `item` for `at` (or move it there if it is queued already). */
  add(item: T, at: number): void {
    if (this.stopped) return;
    item.deadlineAt = at;
    if (item.deadlineIdx >= 0 && this.heap[item.deadlineIdx] === item) {
      this.siftUp(item.deadlineIdx);
      this.siftDown(item.deadlineIdx);
    } else {
      item.deadlineIdx = this.heap.length;
      this.heap.push(item);
      this.siftUp(item.deadlineIdx);
    }
    this.arm();
  }

  remove(item: T): void {
    const i = item.deadlineIdx;
    if (i < 0 || this.heap[i] !== item) return;
    item.deadlineIdx = -1;
    const last = this.heap.pop()!;
    if (last !== item) {
      this.heap[i] = last;
      last.deadlineIdx = i;
      this.siftUp(i);
      this.siftDown(last.deadlineIdx);
    }
  }

  /** Drop everything and the timer (shutdown). */
  stop(): void {
    this.stopped = true;
    for (const it of this.heap) it.deadlineIdx = -1;
    this.heap = [];
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    const first = this.heap[0];
    if (first === undefined || this.stopped) return;
    if (this.timer !== undefined && this.timerAt <= first.deadlineAt + this.slackMs) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = first.deadlineAt + this.slackMs;
    const delay = Math.min(Math.max(this.timerAt - Date.now(), 1), 0x7fffffff);
    this.timer = setTimeout(this.run, delay);
    this.timer.unref();
  }

  private readonly run = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = Date.now();
    for (let first = this.heap[0]; first !== undefined && first.deadlineAt <= now; first = this.heap[0]) {
      this.remove(first);
      this.fire(first);
    }
    this.arm();
  };

  private less(a: number, b: number): boolean {
    return this.heap[a]!.deadlineAt < this.heap[b]!.deadlineAt;
  }

  private swap(a: number, b: number): void {
    const h = this.heap;
    const x = h[a]!;
    h[a] = h[b]!;
    h[b] = x;
    h[a]!.deadlineIdx = a;
    h[b]!.deadlineIdx = b;
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) return;
      this.swap(i, p);
      i = p;
    }
  }

  private siftDown(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const c = r < n && this.less(r, l) ? r : l;
      if (!this.less(c, i)) return;
      this.swap(i, c);
      i = c;
    }
  }
}
