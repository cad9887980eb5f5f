// The -ERR texts of the client protocol, exactly as nats-server sends them.
export const ProtoErr = {
  UnknownOp: "Unknown Protocol Operation",
  MaxPayload: "Maximum Payload Violation",
  // nats-server sends this one in lower case (ErrMaxControlLine.Error()).
  MaxControlLine: "maximum control line exceeded",
  Parser: "Parser Error",
  StaleConnection: "Stale Connection",
  SlowConsumer: "Slow Consumer",
  AuthViolation: "Authorization Violation",
  AuthTimeout: "Authentication Timeout",
  MaxConnections: "maximum connections exceeded",
  MaxAccountConnections: "maximum account active connections exceeded",
  MaxSubscriptions: "maximum subscriptions exceeded",
  InvalidSubject: "Invalid Subject",
  InvalidPublishSubject: "Invalid Publish Subject",
  InvalidClientProtocol: "invalid client protocol",
  NoRespondersNeedsHeaders: "no responders requires headers support",
  TlsRequired: "Secure Connection - TLS Required",
  NoHeaders: "Headers Not Supported",
  // nats-server sends this one in lower case (ErrClientConnectedToRoutePort.Error()).
  RoutePort: "attempted to connect to route port",
} as const;

/** A protocol error that ends the connection after `-ERR '<text>'` is sent. */
export class ProtocolError extends Error {
  constructor(
    readonly text: string,
    detail?: string,
  ) {
    super(detail ?? text);
  }
}
