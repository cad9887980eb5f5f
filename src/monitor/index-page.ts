// The monitoring home page: links to every endpoint, relative so a base path works.
import { TSNATS_VERSION } from "../server/version.js";

const LINKS: Array<[string, string]> = [
  ["varz", "General"],
  ["jsz", "JetStream"],
  ["connz", "Connections"],
  ["accountz", "Accounts"],
  ["accstatz", "Account Stats"],
  ["subsz", "Subscriptions"],
  ["routez", "Routes"],
  ["leafz", "LeafNodes"],
  ["gatewayz", "Gateways"],
  ["raftz", "Raft Groups"],
  ["healthz", "Health Probe"],
  ["debug/vars", "Expvar"],
  ["metrics", "Prometheus Metrics"],
];

export function indexPage(version: string): string {
  const links = LINKS.map(([href, label]) => `    <a href="./${href}">${label}</a>`).join("\n");
  return `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>tsnats monitoring</title>
    <style>
      body { font-family: system-ui, sans-serif; margin-left: 32px }
      a { display: block; padding-bottom: 6px; color: rgb(72 72 92); text-decoration: none }
      a:hover { font-weight: 600 }
      .version { font-size: 14px; color: gray }
    </style>
  </head>
  <body>
    <h1>tsnats</h1>
    <p class="version">NATS server ${version} (tsnats ${TSNATS_VERSION})</p>
${links}
    <a href="https://docs.nats.io/running-a-nats-service/nats_admin/monitoring">Help</a>
  </body>
</html>
`;
}
