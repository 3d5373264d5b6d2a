// The master's Prometheus names: the generic mapping of src/metrics/prometheus-names.ts, plus label
// rules for the keys that carry names or ids (per framework, per role, per task state and reason), so
// that Prometheus sees one family with labels rather than one metric name per framework.
import { promSeries, selector, type LabelRule, type NamingOptions } from '../metrics/prometheus-names.ts';
import { masterKindOf } from './metrics.ts';

const FRAMEWORK = /^master\/frameworks\/([^/]+)\/([^/]+)\/(.+)$/;

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const frameworkRule: LabelRule = (key) => {
  const m = FRAMEWORK.exec(key);
  if (!m) return undefined;
  const labels = { framework_name: decode(m[1]!), framework_id: m[2]! };
  const rest = m[3]!;
  let r: RegExpExecArray | null;
  if ((r = /^(calls|events|operations)$/.exec(rest))) return { family: `master_framework_${r[1]}`, labels, help: `Per framework: ${r[1]} in all` };
  if ((r = /^(calls|events|operations)\/([a-z_]+)$/.exec(rest)))
    return { family: `master_framework_${r[1]}_by_type`, labels: { ...labels, type: r[2]! }, help: `Per framework: ${r[1]} by type` };
  if ((r = /^tasks\/(active|terminal)\/([a-z_]+)$/.exec(rest)))
    return { family: `master_framework_tasks_${r[1]}`, labels: { ...labels, state: r[2]! }, help: `Per framework: tasks by ${r[1]} state` };
  if ((r = /^offers\/([a-z_]+)$/.exec(rest))) return { family: `master_framework_offers_${r[1]}`, labels, help: `Per framework: offers ${r[1]}` };
  if ((r = /^roles\/(.+)\/suppressed$/.exec(rest)))
    return { family: 'master_framework_role_suppressed', labels: { ...labels, role: r[1]! }, help: 'Per framework and role: 1 while offers for the role are suppressed' };
  if (rest === 'subscribed') return { family: 'master_framework_subscribed', labels, help: 'Per framework: 1 while subscribed' };
  return { family: `master_framework_${rest.replace(/[^A-Za-z0-9_]+/g, '_')}`, labels };
};

const rules: LabelRule[] = [
  frameworkRule,
  (key: string) => {
    const m = /^master\/(task_[a-z_]+)\/(source_[a-z_]+)\/(reason_[a-z_]+)$/.exec(key);
    return m && { family: 'master_task_state_reasons', labels: { state: m[1]!, source: m[2]!, reason: m[3]! }, help: 'Tasks that reached a state, by source and reason' };
  },
  (key: string) => {
    const m = /^allocator\/mesos\/roles\/(.+)\/shares\/dominant$/.exec(key);
    return m && { family: 'allocator_mesos_role_dominant_share', labels: { role: m[1]! }, help: "A role's dominant resource share (0.0-1.0)" };
  },
  (key: string) => {
    const m = /^allocator\/mesos\/offer_filters\/roles\/(.+)\/active$/.exec(key);
    return m && { family: 'allocator_mesos_offer_filters_active', labels: { role: m[1]! }, help: 'Offer filters (refusals) in force, by role' };
  },
  (key: string) => {
    const m = /^master\/operations\/([a-z_]+)\/([a-z_]+)$/.exec(key);
    if (!m) return undefined;
    if (m[2] === 'total') return { family: 'master_operations_by_type', labels: { type: m[1]! }, help: 'Offer operations known to this master, by type' };
    return { family: `master_operations_${m[2]}_by_type`, labels: { type: m[1]! }, help: `Offer operations ${m[2]}, by type` };
  },
].map((r) => (key: string) => r(key) ?? undefined);

export const MASTER_NAMING: NamingOptions = { prefix: 'mesos', rules };

/** The Prometheus series (name or selector) the master's GET /metrics exposes a Mesos key under. */
export function masterPromName(key: string): string {
  return selector(promSeries(key, masterKindOf(key), MASTER_NAMING));
}
