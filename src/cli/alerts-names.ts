// Mesos metric key → the Prometheus series the masters' GET /metrics exposes it as (the master's own
// naming, so that exported rules match what Prometheus scrapes).
import type { PromNamer } from '../core/alerts/index.ts';
import { masterPromName } from '../master/metrics-names.ts';

export const promNameOf: PromNamer = masterPromName;
