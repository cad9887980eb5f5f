#!/usr/bin/env node
// tsnats-server: the command-line server's entry. It sets V8's heap flags before anything else
// is loaded (heap_tuning.ts), then loads the command line (server_main.ts): ES module imports
// run before a module's own code, so the server's modules are imported dynamically, after it.
import { holdYoungGeneration } from "./heap_tuning.js";

holdYoungGeneration();
await import("./server_main.js");
