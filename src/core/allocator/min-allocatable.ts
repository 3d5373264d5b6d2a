// Mesos `--min_allocatable_resources` and FrameworkInfo.offer_filters
// `min_allocatable_resources`: an agent's available resources are offered to a
// role only if they contain at least one of the sets (OR of AND-sets). For
// RANGES/SET resources the quantity is the number of elements.
import { ValidationError } from '../../protocol/errors.ts';
import { quantityOf, roundScalar, type Resources } from '../resources.ts';

export type MinAllocatable = ReadonlyArray<Readonly<Record<string, number>>>;

/** Mesos default `cpus:0.01|mem:32` (MIN_CPUS, MIN_MEM). */
export const DEFAULT_MIN_ALLOCATABLE: MinAllocatable = Object.freeze([
  Object.freeze({ cpus: 0.01 }),
  Object.freeze({ mem: 32 }),
]);

/** True when `resources` hold at least one full set; an empty list means no minimum. */
export function meetsMinAllocatable(resources: Resources, min: MinAllocatable): boolean {
  if (min.length === 0) return true;
  for (const set of min) {
    let ok = true;
    for (const name in set) {
      if (roundScalar(quantityOf(resources, name)) < roundScalar(set[name]!)) {
        ok = false;
        break;
      }
    }
    if (ok) return true;
  }
  return false;
}

/**
 * Parses the master flag form `disk:1|cpus:1;mem:32;ports:1` ('|' = OR,
 * ';' = AND). An empty string means no minimum.
 */
export function parseMinAllocatable(text: string): Array<Record<string, number>> {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  return trimmed.split('|').map((group, i) => {
    const set: Record<string, number> = {};
    const parts = group.split(';').map((s) => s.trim()).filter(Boolean);
    if (parts.length === 0) throw new ValidationError('empty resource set', `min_allocatable_resources[${i}]`);
    for (const part of parts) {
      const idx = part.indexOf(':');
      const name = idx > 0 ? part.slice(0, idx).trim() : '';
      const raw = idx > 0 ? part.slice(idx + 1).trim() : '';
      const value = Number(raw);
      if (!name || raw === '' || !Number.isFinite(value) || value < 0) {
        throw new ValidationError(`expected name:quantity, got ${JSON.stringify(part)}`, `min_allocatable_resources[${i}]`);
      }
      set[name] = roundScalar((set[name] ?? 0) + value);
    }
    return set;
  });
}
