// nats-server names TLS cipher suites and curves as Go does; OpenSSL (under Node's tls) names
// them its own way. This maps Go's names onto OpenSSL's, knows which suites Go calls
// insecure, and gives Go's defaults, so a tsnats listener offers what nats-server offers.

/** Go's TLS 1.2 cipher suites by name, with OpenSSL's name and whether Go calls them insecure. */
const TLS12_SUITES = new Map<string, { openssl: string; insecure: boolean }>([
  ["TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", { openssl: "ECDHE-ECDSA-AES128-SHA", insecure: false }],
  ["TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", { openssl: "ECDHE-ECDSA-AES256-SHA", insecure: false }],
  ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", { openssl: "ECDHE-RSA-AES128-SHA", insecure: false }],
  ["TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", { openssl: "ECDHE-RSA-AES256-SHA", insecure: false }],
  ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", { openssl: "ECDHE-ECDSA-AES128-GCM-SHA256", insecure: false }],
  ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", { openssl: "ECDHE-ECDSA-AES256-GCM-SHA384", insecure: false }],
  ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", { openssl: "ECDHE-RSA-AES128-GCM-SHA256", insecure: false }],
  ["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", { openssl: "ECDHE-RSA-AES256-GCM-SHA384", insecure: false }],
  ["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", { openssl: "ECDHE-RSA-CHACHA20-POLY1305", insecure: false }],
  ["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", { openssl: "ECDHE-ECDSA-CHACHA20-POLY1305", insecure: false }],
  ["TLS_RSA_WITH_RC4_128_SHA", { openssl: "RC4-SHA", insecure: true }],
  ["TLS_RSA_WITH_3DES_EDE_CBC_SHA", { openssl: "DES-CBC3-SHA", insecure: true }],
  ["TLS_RSA_WITH_AES_128_CBC_SHA", { openssl: "AES128-SHA", insecure: true }],
  ["TLS_RSA_WITH_AES_256_CBC_SHA", { openssl: "AES256-SHA", insecure: true }],
  ["TLS_RSA_WITH_AES_128_CBC_SHA256", { openssl: "AES128-SHA256", insecure: true }],
  ["TLS_RSA_WITH_AES_128_GCM_SHA256", { openssl: "AES128-GCM-SHA256", insecure: true }],
  ["TLS_RSA_WITH_AES_256_GCM_SHA384", { openssl: "AES256-GCM-SHA384", insecure: true }],
  ["TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", { openssl: "ECDHE-ECDSA-RC4-SHA", insecure: true }],
  ["TLS_ECDHE_RSA_WITH_RC4_128_SHA", { openssl: "ECDHE-RSA-RC4-SHA", insecure: true }],
  ["TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", { openssl: "ECDHE-RSA-DES-CBC3-SHA", insecure: true }],
  ["TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", { openssl: "ECDHE-ECDSA-AES128-SHA256", insecure: true }],
  ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", { openssl: "ECDHE-RSA-AES128-SHA256", insecure: true }],
]);

/**
 * TLS 1.3 suites: Go accepts their names in `cipher_suites` but always enables all three
 * (TLS 1.3 suites are not configurable there), so they are always on here too.
 */
const TLS13_SUITES = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"];

/** Go's curve names and OpenSSL's. */
const CURVES = new Map([
  ["X25519MLKEM768", "X25519MLKEM768"],
  ["X25519", "X25519"],
  ["CurveP256", "P-256"],
  ["CurveP384", "P-384"],
  ["CurveP521", "P-521"],
]);

/** Go's default curve preferences (the post-quantum hybrid first when OpenSSL has it). */
const DEFAULT_CURVES = ["X25519MLKEM768", "X25519", "CurveP256", "CurveP384", "CurveP521"];

export function isCipherSuiteName(name: string): boolean {
  return TLS12_SUITES.has(name) || TLS13_SUITES.includes(name);
}

/** OpenSSL's name of a Go-named TLS 1.2 suite (undefined for TLS 1.3 suites, always on). */
export function opensslSuiteName(goName: string): string | undefined {
  return TLS12_SUITES.get(goName)?.openssl;
}

export function isInsecureCipherSuite(name: string): boolean {
  return TLS12_SUITES.get(name)?.insecure === true;
}

export function isCurveName(name: string): boolean {
  return CURVES.has(name);
}

/**
 * The OpenSSL cipher string for Go-named suites (Go's secure defaults when none are named),
 * and whether TLS 1.2 is left without any suite (only TLS 1.3 names were given).
 */
export function opensslCiphers(goNames: readonly string[] | undefined): { ciphers: string; tls12: boolean } {
  const names = goNames ?? [...TLS12_SUITES].filter(([, s]) => !s.insecure).map(([n]) => n);
  const tls12 = names.map((n) => TLS12_SUITES.get(n)?.openssl).filter((n): n is string => n !== undefined);
  return { ciphers: [...TLS13_SUITES, ...tls12].join(":"), tls12: tls12.length > 0 };
}

/** The OpenSSL curve list for Go-named curves; the defaults leave out what OpenSSL lacks. */
export function opensslCurves(goNames: readonly string[] | undefined, available: (openssl: string) => boolean): string {
  if (goNames !== undefined) return goNames.map((n) => CURVES.get(n) ?? n).join(":");
  return DEFAULT_CURVES.map((n) => CURVES.get(n) as string)
    .filter(available)
    .join(":");
}
