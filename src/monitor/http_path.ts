// How the monitoring port reads a request's path, as nats-server's (Go's http.ServeMux) does,
// so tools and probes see the same answers: a path with invalid %-escapes is a 400; one that is
// not clean ("//varz", "/a/../connz") is redirected (301) to its clean form with the query kept;
// the endpoints match their path exactly ("/varz/" is a 404), under the configured base path.

/** A request's path, decoded, and its raw query; `undefined` for a malformed request target. */
export function splitTarget(target: string): { path: string; query: string } | undefined {
  let t = target;
  // The absolute form (a request sent as to a proxy) carries scheme and host first.
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/.exec(t);
  if (scheme !== null) t = t.slice(scheme[0].length);
  // A request target has no fragment: Go reads a '#' as part of the path.
  const q = t.indexOf("?");
  const rawPath = q < 0 ? t : t.slice(0, q);
  const query = q < 0 ? "" : t.slice(q + 1);
  const path = percentDecode(rawPath);
  if (path === undefined) return undefined;
  return { path: path === "" ? "/" : path, query };
}

function percentDecode(s: string): string | undefined {
  if (!s.includes("%")) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      for (const b of Buffer.from(s[i], "utf8")) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/**
 * The query as Go's url.ParseQuery reads it: pairs split on '&' only, '+' is a space, and a
 * pair with a bad %-escape or a ';' is dropped (not an error); a leading '?' is part of the
 * first key (URLSearchParams would drop it).
 */
export function goQuery(raw: string): URLSearchParams {
  const q = new URLSearchParams();
  for (const part of raw.split("&")) {
    if (part === "" || part.includes(";")) continue;
    const eq = part.indexOf("=");
    const key = percentDecode((eq < 0 ? part : part.slice(0, eq)).replace(/\+/g, " "));
    const value = percentDecode((eq < 0 ? "" : part.slice(eq + 1)).replace(/\+/g, " "));
    if (key === undefined || value === undefined) continue;
    q.append(key, value);
  }
  return q;
}

/** Go's path.Clean for a rooted path: no empty, "." or ".." elements; "/" at least. */
export function cleanRooted(p: string): string {
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

/** The clean form of a request path (ServeMux's cleanPath: a trailing slash is kept). */
export function cleanRequestPath(p: string): string {
  const rooted = p.startsWith("/") ? p : "/" + p;
  const np = cleanRooted(rooted);
  if (rooted.endsWith("/") && np !== "/") return np + "/";
  return np;
}

/** The configured base path as nats-server keeps it (leading slash, cleaned): "/" when unset. */
export function normalizeBasePath(base: string | undefined): string {
  if (!base) return "/";
  return cleanRooted(base.startsWith("/") ? base : "/" + base);
}

/** An endpoint's full path under the base path (Go's path.Join: "/" under "/nats" is "/nats"). */
export function underBase(base: string, endpoint: string): string {
  return cleanRooted(base + "/" + endpoint);
}

/** The Location of a redirect to `path`, escaped as a URL path, with the query kept. */
export function redirectLocation(path: string, query: string): string {
  const escaped = encodeURI(path).replace(/[?#]/g, (c) => (c === "?" ? "%3F" : "%23"));
  return query === "" ? escaped : `${escaped}?${query}`;
}
