// Mirror and sources configuration (ADR-59/60): the shape nats-server echoes back, the
// checks of a create/update request (same order, codes and texts as nats-server's
// checkStreamCfg), the checks against the account's other streams (cycles, message sizes,
// inherited direct gets) and the source "index name" that identifies a source in the
// `Nats-Stream-Source` header.
import { isValidSubject, isValidLiteralSubject, subjectsCollide, subjectIsSubsetOf } from "../protocol/subject.js";
import { SubjectTransform } from "../server/subject_transform.js";
import { parseRfc3339 } from "../server/time.js";
import { jsError } from "./errors.js";
import type { StreamConfig, StreamSourceJson } from "./stream_config.js";
import { nameProblem, shortHash } from "./util.js";

const JS_API_PREFIX = "$JS.API";

function invalid(err: string) {
  return jsError("JSStreamInvalidConfigF", { err });
}

/**
 * A source or mirror entry in nats-server's field order, with empty optional fields
 * dropped and `external.deliver` always present (it is not omitempty there).
 */
export function normalizeSource(raw: StreamSourceJson): StreamSourceJson {
  const out: StreamSourceJson = { name: raw.name ?? "" };
  if (raw.opt_start_seq) out.opt_start_seq = raw.opt_start_seq;
  if (raw.opt_start_time && !raw.opt_start_time.startsWith("0001-01-01")) {
    if (parseRfc3339(raw.opt_start_time) === undefined) {
      const v = raw.opt_start_time;
      throw jsError("JSInvalidJSONErr", { err: `parsing time ${JSON.stringify(v)} as "2006-01-02T15:04:05Z07:00": cannot parse ${JSON.stringify(v)} as "2006"` });
    }
    out.opt_start_time = raw.opt_start_time;
  }
  if (raw.filter_subject) out.filter_subject = raw.filter_subject;
  if (raw.subject_transforms && raw.subject_transforms.length > 0) {
    out.subject_transforms = raw.subject_transforms.map((t) => ({ src: t.src ?? "", dest: t.dest ?? "" }));
  }
  if (raw.external) out.external = { api: raw.external.api ?? "", deliver: raw.external.deliver ?? "" };
  if (raw.consumer) out.consumer = { name: raw.consumer.name ?? "", deliver_subject: raw.consumer.deliver_subject ?? "" };
  return out;
}

/** An empty transform side means "everything" (nats-server's `>` default). */
function side(s: string | undefined): string {
  return s === undefined || s === "" ? ">" : s;
}

/**
 * A source/mirror transform: null when the destination is empty (the entry only filters,
 * subjects stay as they are), undefined when it is not valid.
 */
export function sourceTransform(src: string | undefined, dest: string | undefined): SubjectTransform | null | undefined {
  if (dest === undefined || dest === "") return null;
  return SubjectTransform.parse(side(src), dest);
}

function checkTransforms(kind: "mirror" | "source", s: StreamSourceJson): void {
  const trs = s.subject_transforms ?? [];
  const badFilter = kind === "mirror" ? "JSMirrorInvalidSubjectFilter" : "JSSourceInvalidSubjectFilter";
  const badDest = kind === "mirror" ? "JSMirrorInvalidTransformDestination" : "JSSourceInvalidTransformDestination";
  for (const tr of trs) {
    if (tr.src !== "" && !isValidSubject(tr.src)) throw jsError(badFilter, { err: `invalid subject ${tr.src}` });
    if (sourceTransform(tr.src, tr.dest) === undefined) throw jsError(badDest, { err: `invalid mapping destination: ${tr.dest}` });
  }
  for (let i = 0; i < trs.length; i++) {
    for (let j = 0; j < trs.length; j++) {
      if (i === j) continue;
      // Mirrors refuse colliding filters, sources only one being inside the other (as nats-server).
      const a = side(trs[i].src);
      const b = side(trs[j].src);
      if (kind === "mirror" ? subjectsCollide(a, b) : subjectIsSubsetOf(a, b)) {
        throw jsError(kind === "mirror" ? "JSMirrorOverlappingSubjectFilters" : "JSSourceOverlappingSubjectFilters");
      }
    }
  }
}

function checkDurableConsumer(kind: "mirror" | "source", s: StreamSourceJson): void {
  const c = s.consumer;
  if (c === undefined) return;
  const err = kind === "mirror" ? "JSMirrorDurableConsumerCfgInvalid" : "JSSourceDurableConsumerCfgInvalid";
  if (nameProblem(c.name) !== undefined) throw jsError(err);
  if (!isValidLiteralSubject(c.deliver_subject)) throw jsError(err);
  if (s.opt_start_seq || s.opt_start_time) throw jsError(err);
  if (s.filter_subject) throw jsError(err);
}

/** The external API and deliver prefixes of a config, in order. */
function externals(cfg: StreamConfig): Array<NonNullable<StreamSourceJson["external"]>> {
  const out = [];
  if (cfg.mirror?.external) out.push(cfg.mirror.external);
  for (const s of cfg.sources ?? []) if (s.external) out.push(s.external);
  return out;
}

/**
 * Checks of the mirror/sources part of a config on its own (normalizeStreamConfig calls
 * this with `subjects` as requested, before they default to the stream name).
 */
export function checkSourcingConfig(cfg: StreamConfig, requestedSubjects: string[] | undefined): void {
  const m = cfg.mirror;
  if (m !== undefined) {
    if ((cfg.first_seq ?? 0) > 0) throw jsError("JSMirrorWithFirstSeqErr");
    if (requestedSubjects !== undefined && requestedSubjects.length > 0) throw jsError("JSMirrorWithSubjectsErr");
    if (cfg.sources !== undefined && cfg.sources.length > 0) throw jsError("JSMirrorWithSourcesErr");
    // A mirror's sequence numbers are its origin's: nothing may add messages of its own.
    if (cfg.allow_msg_counter) throw jsError("JSMirrorWithCountersErr");
    if (cfg.allow_atomic) throw jsError("JSMirrorWithAtomicPublishErr");
    if (cfg.allow_batched) throw jsError("JSMirrorWithBatchPublishErr");
    if (cfg.allow_msg_schedules) throw jsError("JSMirrorWithMsgSchedulesErr");
    checkDurableConsumer("mirror", m);
    if (m.filter_subject && (m.subject_transforms?.length ?? 0) > 0) throw jsError("JSMirrorMultipleFiltersNotAllowed");
    if ((cfg.subject_delete_marker_ttl ?? 0) > 0) throw invalid("subject delete markers forbidden on mirrors");
    checkTransforms("mirror", m);
    if (m.external === undefined && nameProblem(m.name) !== undefined) throw jsError("JSMirrorInvalidStreamName");
  }
  const inames = new Set<string>();
  const cnames = new Set<string>();
  for (const s of cfg.sources ?? []) {
    if (nameProblem(s.name) !== undefined) throw jsError("JSSourceInvalidStreamName");
    const iname = sourceIndexName(s);
    if (inames.has(iname)) throw jsError("JSSourceDuplicateDetected");
    inames.add(iname);
    if (s.filter_subject && (s.subject_transforms?.length ?? 0) > 0) throw jsError("JSSourceMultipleFiltersNotAllowed");
    checkTransforms("source", s);
    if (s.consumer !== undefined) {
      checkDurableConsumer("source", s);
      const cname = `${externalName(s)} ${s.consumer.name}`;
      if (cnames.has(cname)) throw jsError("JSSourceDurableConsumerDuplicateDetected");
      cnames.add(cname);
    }
  }
  for (const ext of externals(cfg)) {
    const deliver = ext.deliver ?? "";
    if (deliver !== "" && !isValidLiteralSubject(deliver)) throw jsError("JSStreamInvalidExternalDeliverySubjErrF", { prefix: deliver });
  }
  for (const ext of externals(cfg)) {
    if (ext.api === "") continue;
    if (!isValidLiteralSubject(ext.api)) throw invalid(`stream external api prefix ${JSON.stringify(ext.api)} must be a valid subject without wildcards`);
    if (subjectsCollide(ext.api, JS_API_PREFIX)) throw jsError("JSStreamExternalApiOverlapErrF", { prefix: ext.api, subject: JS_API_PREFIX });
  }
}

/**
 * The filter subjects of a new stream's mirror and sources when they have no transforms (the
 * transforms' own are checked with the config): nats-server checks them as it adds the stream,
 * so they fail as a stream creation error (500), in its words.
 */
export function checkSourceFilters(cfg: StreamConfig): void {
  const m = cfg.mirror;
  if (m !== undefined && (m.subject_transforms?.length ?? 0) === 0 && m.filter_subject && !isValidSubject(m.filter_subject)) {
    throw jsError("JSStreamCreateErrF", { err: `subject filter '${m.filter_subject}' for the mirror invalid subject` });
  }
  for (const s of cfg.sources ?? []) {
    if ((s.subject_transforms?.length ?? 0) === 0 && s.filter_subject && !isValidSubject(s.filter_subject)) {
      throw jsError("JSStreamCreateErrF", { err: `subject filter '${s.filter_subject}' for the source: invalid subject` });
    }
  }
}

/** What the checks against the account's other streams need to know about one. */
export interface StreamLookup {
  (name: string): StreamConfig | undefined;
}

/**
 * Checks of a mirror/sources config against the account's streams (nats-server: message
 * sizes, inherited mirror_direct, delivery prefixes vs the origins' subjects, cycles).
 * Mutates `cfg.mirror_direct` as nats-server does: a mirror serves direct gets when its
 * origin allows them.
 */
export function checkSourcingAgainst(cfg: StreamConfig, lookup: StreamLookup): void {
  const originSubjects: string[] = [];
  const m = cfg.mirror;
  if (m !== undefined && m.external === undefined) {
    const origin = lookup(m.name);
    if (origin !== undefined) {
      originSubjects.push(...(origin.subjects ?? []));
      if (cfg.max_msg_size > 0 && origin.max_msg_size > 0 && cfg.max_msg_size < origin.max_msg_size) throw jsError("JSMirrorMaxMessageSizeTooBigErr");
      cfg.mirror_direct = origin.allow_direct;
    }
  }
  for (const s of cfg.sources ?? []) {
    if (s.external !== undefined) continue;
    const origin = lookup(s.name);
    if (origin === undefined) continue;
    originSubjects.push(...(origin.subjects ?? []));
    if (cfg.max_msg_size > 0 && origin.max_msg_size > 0 && cfg.max_msg_size < origin.max_msg_size) throw jsError("JSSourceMaxMessageSizeTooBigErr");
  }
  for (const ext of externals(cfg)) {
    const deliver = ext.deliver ?? "";
    if (deliver === "") continue;
    for (const sub of originSubjects) {
      if (subjectsCollide(sub, `${deliver}.${sub}`)) throw jsError("JSStreamExternalDelPrefixOverlapsErrF", { prefix: deliver, subject: sub });
    }
  }
  // A cycle: following sources (and mirrors) leads back to a stream already visited whose
  // subjects the source's filter would feed again.
  const toVisit: StreamConfig[] = [cfg];
  const visited = new Set<string>();
  const overlaps = (subjects: string[] | undefined, filter: string | undefined): boolean =>
    filter === undefined || filter === "" || (subjects ?? []).some((s) => subjectsCollide(s, filter));
  while (toVisit.length > 0) {
    const c = toVisit.shift()!;
    visited.add(c.name);
    for (const s of c.sources ?? []) {
      if (s.external !== undefined) continue;
      if (visited.has(s.name)) {
        if (overlaps(c.subjects, s.filter_subject)) throw invalid("detected cycle");
      } else {
        const o = s.name === cfg.name ? cfg : lookup(s.name);
        if (o !== undefined) toVisit.push(o);
      }
    }
    if (c.mirror !== undefined && c.mirror.external === undefined) {
      if (visited.has(c.mirror.name)) throw invalid("detected cycle");
      const o = lookup(c.mirror.name);
      if (o !== undefined) toVisit.push(o);
    }
  }
}

/** The stream part of a source's identity: its name, plus a hash of the API prefix for external ones. */
export function externalName(s: StreamSourceJson): string {
  return s.external !== undefined ? `${s.name}:${shortHash(s.external.api)}` : s.name;
}

/**
 * nats-server's source index name: "<stream>[:<api hash>][:C=<consumer hash>] <filters> <destinations>",
 * filters and destinations joined by form feeds when there are several transforms. Its
 * first, third and fourth fields are what `Nats-Stream-Source` carries.
 */
export function sourceIndexName(s: StreamSourceJson): string {
  let name = externalName(s);
  if (s.consumer !== undefined) name += `:C=${shortHash(s.consumer.name)}`;
  let filters: string;
  let dests: string;
  const trs = s.subject_transforms ?? [];
  if (trs.length === 0) {
    filters = side(s.filter_subject);
    dests = ">";
  } else {
    filters = trs.map((t) => side(t.src)).join("\f");
    dests = trs.map((t) => side(t.dest)).join("\f");
  }
  return `${name} ${filters} ${dests}`;
}
