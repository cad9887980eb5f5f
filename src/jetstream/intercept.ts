// What the cluster's gate in the Api (JsCluster.intercept, cluster.ts) decides for one request.
// A file of its own so the Api can name the answers without loading the cluster's code, which a
// server without routes never imports (jetstream.ts loads it when a cluster is configured).
export const SKIP = Symbol("another server answers");
export const PENDING = Symbol("answered once committed");
export type Intercept = typeof SKIP | typeof PENDING | Record<string, unknown> | undefined;
