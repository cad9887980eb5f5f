// Random order, as nats-server picks among equals (gateway URLs to try, a consumer's peers).

/** Shuffle `a` in place (Fisher–Yates) and return it. */
export function shuffleInPlace<T>(a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
