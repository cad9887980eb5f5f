// A writer for the Prometheus text exposition format (version 0.0.4): one HELP and TYPE
// line per metric family, then its samples. Label values and help texts are escaped as
// the format requires.

export type MetricType = "counter" | "gauge" | "untyped";
export type Labels = Record<string, string | number>;

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export class ExpositionWriter {
  private readonly lines: string[] = [];
  private readonly seen = new Set<string>();

  /** Add a metric family with its samples. Families must be unique. */
  family(name: string, type: MetricType, help: string, samples: Array<[Labels, number]>): void {
    if (!NAME_RE.test(name)) throw new Error(`invalid metric name ${name}`);
    if (this.seen.has(name)) throw new Error(`metric ${name} written twice`);
    this.seen.add(name);
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`);
    this.lines.push(`# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) this.lines.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
  }

  /** A family with one unlabelled sample. */
  single(name: string, type: MetricType, help: string, value: number, labels: Labels = {}): void {
    this.family(name, type, help, [[labels, value]]);
  }

  toString(): string {
    return this.lines.join("\n") + "\n";
  }
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function escapeLabelValue(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function formatLabels(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return "";
  const parts = keys.map((k) => {
    if (!LABEL_RE.test(k) || k.startsWith("__")) throw new Error(`invalid label name ${k}`);
    return `${k}="${escapeLabelValue(String(labels[k]))}"`;
  });
  return `{${parts.join(",")}}`;
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}
