// An empty array that holds objects from the start, for arrays every instance of a class has
// and hot code reads (a RAFT group's log segments, its fsync rounds and waiters).
//
// `[]` starts as an array of small integers; the first object stored changes its kind (its
// map). A hot function optimized on arrays that had changed long ago is thrown away when it
// meets a fresh one: with `[]` in a field initializer, at the first append of every RAFT group
// created while the server is busy (a stream's or consumer's group). V8 learns the kind at the
// array's allocation site only while the array is young, which a group's arrays no longer are
// by their first use. An array made with one object and emptied keeps the objects' kind.
export function objectArray<T>(): T[] {
  const a: unknown[] = [null];
  a.length = 0;
  return a as T[];
}
