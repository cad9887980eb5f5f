// Direct Get (ADR-31): `$JS.API.DIRECT.GET.<stream>` with a JSON body (seq, last_by_subj,
// next_by_subj) and `$JS.API.DIRECT.GET.<stream>.<subject>` (last message on a subject,
// no body). The reply is the stored message itself with Nats-Stream, Nats-Subject,
// Nats-Sequence and Nats-Time-Stamp headers, or a 404/408 status; no JSON wrapping.
import { decodeRequest, MSG_GET_SHAPE } from "./json.js";
import { ApiError } from "./errors.js";
import type { Stream } from "./stream.js";
import { rfc3339 } from "../server/time.js";
import { appendHeaders, buildHeaders } from "../protocol/headers.js";

interface DirectGetRequest {
  seq?: number;
  last_by_subj?: string;
  next_by_subj?: string;
  batch?: number;
  multi_last?: string[];
}

const EMPTY = Buffer.alloc(0);
/** JSInvalidJSONErr: the request body is not JSON. */
const JSON_ERR_CODE = 10025;

export function handleDirectGet(stream: Stream, lastBySubject: string | undefined, reply: string, payload: Buffer): void {
  const acc = stream.jsa.account;
  const status = (s: string): void => {
    acc.publish(reply, "", buildHeaders([], s), EMPTY);
  };
  let req: DirectGetRequest;
  if (lastBySubject !== undefined) {
    if (payload.length > 0) {
      status("408 Bad Request");
      return;
    }
    req = { last_by_subj: lastBySubject };
  } else {
    // nats-server 2.9: no body, or a body that asks for nothing, is an "Empty Request";
    // undecodable JSON is "Malformed"; more than one way to pick the message is "Bad".
    if (payload.length === 0) {
      status("408 Empty Request");
      return;
    }
    try {
      req = decodeRequest<DirectGetRequest>(payload, MSG_GET_SHAPE, "JSApiMsgGetRequest", false) ?? {};
    } catch (err) {
      status(err instanceof ApiError && err.errCode === JSON_ERR_CODE ? "408 Malformed Request" : "408 Bad Request");
      return;
    }
    const modes = (req.seq !== undefined && req.seq > 0 && req.next_by_subj === undefined ? 1 : 0) + (req.last_by_subj ? 1 : 0) + (req.next_by_subj !== undefined ? 1 : 0);
    if (modes === 0) {
      status("408 Empty Request");
      return;
    }
    if (modes !== 1 || req.multi_last !== undefined) {
      status("408 Bad Request");
      return;
    }
  }
  let msg;
  try {
    msg = stream.getMessage(req);
  } catch {
    status("404 Message Not Found");
    return;
  }
  const hdr = appendHeaders(msg.hdr, [
    ["Nats-Stream", stream.name],
    ["Nats-Subject", msg.subject],
    ["Nats-Sequence", String(msg.seq)],
    ["Nats-Time-Stamp", rfc3339(msg.time)],
  ]);
  acc.publish(reply, "", hdr, msg.data);
}
