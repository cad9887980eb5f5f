// Worker thread body for bcrypt comparisons (see bcrypt.ts for why they run off the main thread).
import { parentPort } from "node:worker_threads";
import bcrypt from "bcryptjs";

interface CompareRequest {
  id: number;
  secret: string;
  hash: string;
}

parentPort?.on("message", (req: CompareRequest) => {
  let ok = false;
  try {
    ok = bcrypt.compareSync(req.secret, req.hash);
  } catch {
    ok = false; // a malformed hash matches nothing
  }
  parentPort?.postMessage({ id: req.id, ok });
});
