// Mesos metric key → Prometheus series. The mapping (docs/operations.md, "Prometheus names"):
//   1. `<prefix>_` + the key with every run of characters outside [A-Za-z0-9_] as `_`
//      (`master/tasks_running` → `mesos_master_tasks_running`);
//   2. units spelled out, as Prometheus wants base units: a `ms` word becomes `seconds` and the value is
//      divided by 1000, a `secs` word becomes `seconds`;
//   3. counters end in `_total`; a gauge's own `_total` suffix is dropped, since Prometheus reserves it
//      for counters (`master/cpus_total` → `mesos_master_cpus`);
//   4. keys with ids or names inside them (per framework, per role, per task state and reason) become one
//      family with labels instead, through the component's label rules (e.g. master/metrics-names.ts).
import type { MetricKind } from './metric-set.ts';

export interface LabelledName {
  /** The family's name without prefix or `_total`, Prometheus style (`master_framework_calls_by_type`). */
  family: string;
  labels: Record<string, string>;
  help?: string;
}

/** Recognises keys that become a labelled family; undefined for plain keys. */
export type LabelRule = (key: string) => LabelledName | undefined;

export interface NamingOptions {
  /** `mesos` for the master and agents. */
  prefix: string;
  rules?: readonly LabelRule[];
}

export interface PromSeries {
  /** Full metric name, `_total` included for counters. */
  name: string;
  labels: Record<string, string>;
  /** Multiply the Mesos value by this (ms → s). */
  scale: number;
  help?: string;
}

/** A string as a Prometheus name fragment: invalid characters as `_`, never starting with a digit. */
export function sanitizeName(s: string): string {
  const out = s.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
  return /^[0-9]/.test(out) ? `_${out}` : out;
}

/** A label name (letters, digits, `_`; not starting with a digit or `__`, reserved by Prometheus). */
export function sanitizeLabelName(s: string): string {
  const out = sanitizeName(s).replace(/^_+/, '');
  return out === '' ? 'label' : /^[0-9]/.test(out) ? `label_${out}` : out;
}

/** `name` with its unit words spelled out as base units, and the factor that converts the value. */
export function withBaseUnits(name: string): { name: string; scale: number } {
  let scale = 1;
  const words = name.split('_').map((w) => {
    if (w === 'ms') {
      scale = 1 / 1000;
      return 'seconds';
    }
    return w === 'secs' ? 'seconds' : w;
  });
  return { name: words.join('_'), scale };
}

/** The family name (with prefix and counter suffix) of a family named without them. */
export function familyName(prefix: string, family: string, kind: MetricKind): string {
  let name = `${sanitizeName(prefix)}_${family}`;
  if (kind === 'counter') {
    if (!name.endsWith('_total')) name += '_total';
  } else if (name.endsWith('_total')) name = name.slice(0, -'_total'.length);
  return name;
}

export function promSeries(key: string, kind: MetricKind, o: NamingOptions): PromSeries {
  for (const rule of o.rules ?? []) {
    const l = rule(key);
    if (!l) continue;
    const { name, scale } = withBaseUnits(l.family);
    return { name: familyName(o.prefix, name, kind), labels: l.labels, scale, ...(l.help ? { help: l.help } : {}) };
  }
  const { name, scale } = withBaseUnits(sanitizeName(key));
  return { name: familyName(o.prefix, name, kind), labels: {}, scale };
}

/** A PromQL selector for a series: `name` or `name{a="b",…}`. */
export function selector(s: Pick<PromSeries, 'name' | 'labels'>): string {
  const labels = Object.entries(s.labels);
  if (!labels.length) return s.name;
  return `${s.name}{${labels.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
}
