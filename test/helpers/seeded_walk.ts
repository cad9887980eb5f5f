// Shared test helper: a small deterministic generator for seeded random walks (the same seed
// gives the same steps on every run and machine).
export class Walk {
  constructor(private seed: number) {}
  next(): number {
    this.seed = (this.seed * 1103515245 + 12345) & 0x7fffffff;
    return this.seed / 0x7fffffff;
  }
  pick<T>(a: readonly T[]): T {
    return a[Math.floor(this.next() * a.length)]!;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}
