// The names a client certificate can stand for, as nats-server's `verify_and_map` reads them:
// the subject alternative names (e-mail, DNS, URI), the subject as a distinguished name (for
// a match with users written as DNs, in order or with reordered RDNs), and the subject in
// the string forms Go prints (RFC 2253 style, most specific RDN first, with or without the
// domain components). The certificate's DER is read here directly: Node's X509Certificate
// gives neither the raw subject nor the SANs as structured values.

/** One DER element: tag, where its content starts and ends, where the element starts. */
interface Tlv {
  tag: number;
  start: number;
  end: number;
  headerStart: number;
}

function readTlv(der: Buffer, pos: number, limit = der.length): Tlv {
  const headerStart = pos;
  if (pos + 2 > limit) throw new Error("truncated DER");
  const tag = der[pos++];
  if ((tag & 0x1f) === 0x1f) throw new Error("unsupported DER tag");
  let len = der[pos++];
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || pos + n > limit) throw new Error("bad DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[pos++];
  }
  if (pos + len > limit) throw new Error("truncated DER");
  return { tag, start: pos, end: pos + len, headerStart };
}

function childrenOf(der: Buffer, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = t.start; p < t.end; ) {
    const c = readTlv(der, p, t.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

function oidString(der: Buffer, t: Tlv): string {
  const parts: number[] = [];
  let v = 0;
  for (let i = t.start; i < t.end; i++) {
    v = v * 128 + (der[i] & 0x7f);
    if ((der[i] & 0x80) === 0) {
      if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else parts.push(v);
      v = 0;
    }
  }
  return parts.join(".");
}

/** The string types Go decodes an attribute value of; undefined for anything else. */
function stringValue(der: Buffer, t: Tlv): string | undefined {
  const bytes = der.subarray(t.start, t.end);
  switch (t.tag) {
    case 0x0c: // UTF8String
    case 0x12: // NumericString
    case 0x13: // PrintableString
    case 0x14: // T61String
    case 0x16: // IA5String
      return bytes.toString("utf8");
    case 0x1e: {
      // BMPString: UTF-16 big endian
      const le = Buffer.from(bytes);
      le.swap16();
      return le.toString("utf16le");
    }
    default:
      return undefined;
  }
}

interface Attribute {
  oid: string;
  value: string | undefined;
}

/** The subject's RDNs in certificate order, each a set of attributes. */
type Rdns = Attribute[][];

const OID_CN = "2.5.4.3";
const OID_SERIAL = "2.5.4.5";
const OID_C = "2.5.4.6";
const OID_L = "2.5.4.7";
const OID_ST = "2.5.4.8";
const OID_STREET = "2.5.4.9";
const OID_O = "2.5.4.10";
const OID_OU = "2.5.4.11";
const OID_POSTALCODE = "2.5.4.17";
const OID_DC = "0.9.2342.19200300.100.1.25";
const OID_SAN = "2.5.29.17";
const OID_TLS_FEATURE = "1.3.6.1.5.5.7.1.24";

/** Short names Go's RDNSequence.String() prints; other attribute types are printed as hex. */
const PKIX_NAMES = new Map([
  [OID_C, "C"],
  [OID_O, "O"],
  [OID_OU, "OU"],
  [OID_CN, "CN"],
  [OID_SERIAL, "SERIALNUMBER"],
  [OID_L, "L"],
  [OID_ST, "ST"],
  [OID_STREET, "STREET"],
  [OID_POSTALCODE, "POSTALCODE"],
]);

/** Attribute types a distinguished name match understands (nats-server's LDAP-style DNs also know DC). */
const DN_NAMES = new Map([...PKIX_NAMES, [OID_DC, "DC"]]);

/** What verify_and_map can match a certificate against. */
export interface CertificateNames {
  emails: string[];
  dnsNames: string[];
  uris: string[];
  /** The subject as a DN, most specific RDN first; undefined when it holds attribute types a DN match cannot use. */
  dn: Dn | undefined;
  /** The subject as Go prints it (known attribute types only, in Go's fixed order). */
  rdnString: string;
  /** The domain components ("DC=a,DC=b"), which `rdnString` leaves out; "" when there are none. */
  domainComponents: string;
  /** The certificate asks for OCSP stapling (TLS feature status_request, "must staple"). */
  mustStaple: boolean;
}

function parseSubject(der: Buffer, name: Tlv): Rdns {
  return childrenOf(der, name).map((set) =>
    childrenOf(der, set).map((atv) => {
      const [type, value] = childrenOf(der, atv);
      return { oid: oidString(der, type), value: value === undefined ? undefined : stringValue(der, value) };
    }),
  );
}

/** Go's escaping in RDNSequence.String(). */
function escapeRdnValue(v: string): string {
  let out = "";
  const chars = [...v];
  chars.forEach((c, i) => {
    const special = ",+\"\\<>;".includes(c) || (c === " " && (i === 0 || i === chars.length - 1)) || (c === "#" && i === 0);
    out += special ? `\\${c}` : c;
  });
  return out;
}

/**
 * The subject as Go's `cert.Subject.ToRDNSequence().String()` prints it: the known attributes
 * regrouped in Go's fixed order (C, ST, L, STREET, POSTALCODE, O, OU, CN, SERIALNUMBER; several
 * values of one type form one multi-valued RDN), printed last first.
 */
function goRdnString(rdns: Rdns): string {
  const values = new Map<string, string[]>();
  let cn: string | undefined;
  let serial: string | undefined;
  for (const rdn of rdns) {
    for (const a of rdn) {
      if (a.value === undefined) continue;
      if (a.oid === OID_CN) cn = a.value;
      else if (a.oid === OID_SERIAL) serial = a.value;
      else if (PKIX_NAMES.has(a.oid)) values.set(a.oid, [...(values.get(a.oid) ?? []), a.value]);
    }
  }
  const seq: [string, string[]][] = [];
  for (const oid of [OID_C, OID_ST, OID_L, OID_STREET, OID_POSTALCODE, OID_O, OID_OU]) {
    const v = values.get(oid);
    if (v !== undefined) seq.push([oid, v]);
  }
  if (cn) seq.push([OID_CN, [cn]]);
  if (serial) seq.push([OID_SERIAL, [serial]]);
  return seq
    .reverse()
    .map(([oid, vs]) => vs.map((v) => `${PKIX_NAMES.get(oid)}=${escapeRdnValue(v)}`).join("+"))
    .join(",");
}

function subjectDn(rdns: Rdns): Dn | undefined {
  const out: DnAttribute[][] = [];
  for (let i = rdns.length - 1; i >= 0; i--) {
    if (rdns[i].length === 0) continue;
    const rdn: DnAttribute[] = [];
    for (let j = rdns[i].length - 1; j >= 0; j--) {
      const a = rdns[i][j];
      const type = DN_NAMES.get(a.oid);
      if (type === undefined || a.value === undefined) return undefined;
      rdn.push({ type, value: a.value });
    }
    out.push(rdn);
  }
  return new Dn(out);
}

/** Read the names of a DER certificate; throws on DER it cannot read. */
export function certificateNames(der: Buffer): CertificateNames {
  const cert = readTlv(der, 0);
  const tbs = childrenOf(der, childrenOf(der, cert)[0] ?? cert);
  const off = tbs[0]?.tag === 0xa0 ? 1 : 0; // explicit version
  const subjectTlv = tbs[off + 4];
  if (subjectTlv === undefined) throw new Error("certificate without subject");
  const rdns = parseSubject(der, subjectTlv);
  const names: CertificateNames = {
    emails: [],
    dnsNames: [],
    uris: [],
    dn: subjectDn(rdns),
    rdnString: goRdnString(rdns),
    domainComponents: rdns
      .flat()
      .filter((a) => a.oid === OID_DC && a.value !== undefined)
      .map((a) => `DC=${a.value}`)
      .join(","),
    mustStaple: false,
  };
  const extensions = tbs.slice(off + 6).find((t) => t.tag === 0xa3);
  if (extensions === undefined) return names;
  const [list] = childrenOf(der, extensions);
  for (const ext of list === undefined ? [] : childrenOf(der, list)) {
    const parts = childrenOf(der, ext);
    const oid = oidString(der, parts[0]);
    const value = parts[parts.length - 1]; // OCTET STRING, after the optional `critical`
    if (oid === OID_SAN) {
      for (const gn of childrenOf(der, readTlv(der, value.start, value.end))) {
        const text = der.toString("latin1", gn.start, gn.end);
        if (gn.tag === 0x81) names.emails.push(text);
        else if (gn.tag === 0x82) names.dnsNames.push(text);
        else if (gn.tag === 0x86) names.uris.push(text);
      }
    } else if (oid === OID_TLS_FEATURE) {
      // SEQUENCE OF INTEGER; 5 = status_request
      const seq = readTlv(der, value.start, value.end);
      names.mustStaple = childrenOf(der, seq).some((i) => i.end - i.start === 1 && der[i.start] === 5);
    }
  }
  return names;
}

// ---------------------------------------------------------------------------------------
// distinguished names

interface DnAttribute {
  type: string;
  value: string;
}

/** A distinguished name as RDNs (each a set of attributes), most specific first. */
export class Dn {
  constructor(readonly rdns: DnAttribute[][]) {}

  /**
   * Parse a DN as users write it ("CN=alice,OU=dev+O=acme,DC=example"): `,` ends an RDN, `+`
   * joins attributes of one RDN, `\` escapes a special character or gives a byte as two hex
   * digits; spaces around types and values are not part of them. Undefined when it is not a DN.
   */
  static parse(text: string): Dn | undefined {
    const rdns: DnAttribute[][] = [];
    let rdn: DnAttribute[] = [];
    let type: string | undefined;
    let buf: number[] = [];
    let trailingSpaces = 0;
    const take = (): string => {
      const s = Buffer.from(buf.slice(0, buf.length - trailingSpaces)).toString("utf8");
      buf = [];
      trailingSpaces = 0;
      return s;
    };
    const bytes = Buffer.from(text, "utf8");
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i];
      if (c === 0x5c) {
        // backslash
        const next = bytes[i + 1];
        if (next === undefined) return undefined;
        if (' "#+,;<=>\\'.includes(String.fromCharCode(next))) {
          buf.push(next);
          i++;
        } else {
          const hex = bytes.toString("latin1", i + 1, i + 3);
          if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
          buf.push(parseInt(hex, 16));
          i += 2;
        }
        trailingSpaces = 0;
      } else if (c === 0x3d) {
        // '='
        type = take();
        if (bytes[i + 1] === 0x23) return undefined; // '#': BER-encoded value, not supported
      } else if (c === 0x2c || c === 0x2b) {
        // ',' or '+'
        if (type === undefined || type === "") return undefined;
        rdn.push({ type, value: take() });
        type = undefined;
        if (c === 0x2c) {
          rdns.push(rdn);
          rdn = [];
        }
      } else if (c === 0x20 && buf.length === 0) {
        // leading space of a type or value
      } else {
        trailingSpaces = c === 0x20 ? trailingSpaces + 1 : 0;
        buf.push(c);
      }
    }
    if (buf.length > 0) {
      if (type === undefined || type === "") return undefined;
      rdn.push({ type, value: take() });
      rdns.push(rdn);
    }
    return new Dn(rdns);
  }

  /** Same RDNs in the same order (attribute types compared without case, values exactly). */
  equals(other: Dn): boolean {
    return this.rdns.length === other.rdns.length && this.rdns.every((r, i) => rdnEquals(r, other.rdns[i]));
  }

  /** Same RDNs in any order. */
  sameRdns(other: Dn): boolean {
    if (this.rdns.length !== other.rdns.length) return false;
    const used = new Array<boolean>(other.rdns.length).fill(false);
    return this.rdns.every((r) => {
      const j = other.rdns.findIndex((o, k) => !used[k] && rdnEquals(r, o));
      if (j < 0) return false;
      used[j] = true;
      return true;
    });
  }
}

function attributeEquals(a: DnAttribute, b: DnAttribute): boolean {
  return a.type.toLowerCase() === b.type.toLowerCase() && a.value === b.value;
}

function rdnEquals(a: DnAttribute[], b: DnAttribute[]): boolean {
  return a.length === b.length && a.every((x) => b.some((y) => attributeEquals(x, y))) && b.every((y) => a.some((x) => attributeEquals(x, y)));
}

/**
 * The user a certificate maps to, in nats-server's order: a user named by one of its e-mail,
 * DNS or URI alternative names; then a user whose name is the subject as a DN (same RDN
 * order first, then reordered); then the subject string with its domain components; then the
 * subject string alone. `userNames` are the candidates (users allowed on this connection).
 */
export function mapCertificateToUser(names: CertificateNames, userNames: readonly string[]): string | undefined {
  const known = new Set(userNames);
  for (const n of [...names.emails, ...names.dnsNames, ...names.uris]) if (known.has(n)) return n;
  const dn = names.dn;
  if (dn !== undefined) {
    const parsed: [string, Dn][] = [];
    for (const u of userNames) {
      const d = Dn.parse(u);
      if (d === undefined) continue;
      if (d.equals(dn)) return u;
      parsed.push([u, d]);
    }
    for (const [u, d] of parsed) if (d.sameRdns(dn)) return u;
  }
  if (names.domainComponents !== "") {
    const withDcs = `${names.rdnString},${names.domainComponents}`;
    if (known.has(withDcs)) return withDcs;
  }
  return known.has(names.rdnString) ? names.rdnString : undefined;
}
