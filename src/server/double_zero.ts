// The starting value of object fields that later hold numbers V8 cannot keep as small
// integers: times from Date.now() and byte or message counts that pass 2^30.
//
// V8 gives every field of an object's hidden class (map) a representation, taken from the
// first value stored: a field that starts at 0 is a small-integer field. Storing the first
// Date.now() in it widens the field to a double, and V8 then deprecates the map and throws
// away every optimized function that was built for objects of that map. Measured with
// --trace-deopt on request/reply: the server's first PING to a client (2 s after CONNECT)
// stores its send time, and about 15 functions of the publish path (onSharedRead, onData,
// fastPub, onPub, routePub, deliverRange, encodeMsg, flush, ...) were deoptimized in that one
// turn and ran unoptimized until V8 had compiled them again, about a second later.
//
// -0 is a number V8 stores as a double, so a field that starts with it is a double field
// from the first object on and never widens. It compares, adds, formats and serializes as 0
// (`-0 === 0`, `-0 + n === n`, `String(-0) === "0"`, `JSON.stringify(-0) === "0"`).
export const DOUBLE_ZERO = -0;
