// Weighted DRF sorter: the fairness math of Mesos's `DRFSorter`
// (src/master/allocator/mesos/sorter/drf/sorter.cpp), with no I/O.
//
// share(client) = max over scalar names r with total_r > 0 (and r not excluded)
//                 of allocation_r / total_r, divided by the client's weight.
// sort() lists clients by ascending share, ties broken by name.
//
// The order is kept incrementally: a change to one client (allocate,
// unallocate, setWeight) only moves that client, so the allocator can account
// an offer and re-sort in O(displacement) rather than O(n log n).
//
// Differences from Mesos (deliberate, documented): roles are flat (no
// hierarchical `a/b` subtree aggregation), there is no activate/deactivate
// (callers skip ineligible clients), and ties are broken by name only (Mesos
// also compares an allocation counter before the name).
import { roundScalar } from '../resources.ts';

export interface DrfSorterOptions {
  /** Mesos `--fair_sharing_excluded_resource_names`: scalars ignored in shares. */
  excludedResourceNames?: readonly string[];
}

interface Client {
  readonly name: string;
  weight: number;
  readonly alloc: Record<string, number>;
  share: number;
  index: number;
}

function checkWeight(weight: number): number {
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0) {
    throw new RangeError(`DRF weight must be a finite number > 0, got ${String(weight)}`);
  }
  return weight;
}

function less(a: Client, b: Client): boolean {
  return a.share < b.share || (a.share === b.share && a.name < b.name);
}

export class DrfSorter {
  private readonly clients = new Map<string, Client>();
  private readonly order: Client[] = [];
  private readonly excluded: ReadonlySet<string>;
  private total: Record<string, number> = {};
  private totalNames: string[] = [];
  private totalValues: number[] = [];

  constructor(options: DrfSorterOptions = {}) {
    this.excluded = new Set(options.excludedResourceNames ?? []);
  }

  /** Cluster-wide scalar totals that shares are computed against. Re-sorts everything. */
  setTotal(scalars: Readonly<Record<string, number>>): void {
    this.total = { ...scalars };
    this.totalNames = [];
    this.totalValues = [];
    for (const [name, value] of Object.entries(scalars)) {
      if (value > 0 && !this.excluded.has(name)) {
        this.totalNames.push(name);
        this.totalValues.push(value);
      }
    }
    for (const c of this.order) c.share = this.computeShare(c);
    this.order.sort((a, b) => (less(a, b) ? -1 : less(b, a) ? 1 : 0));
    this.order.forEach((c, i) => (c.index = i));
  }

  getTotal(): Record<string, number> {
    return { ...this.total };
  }

  get size(): number {
    return this.order.length;
  }

  contains(name: string): boolean {
    return this.clients.has(name);
  }

  /** Adds a client with no allocation. Throws if it is already present. */
  add(name: string, weight = 1): void {
    if (this.clients.has(name)) throw new Error(`DRF sorter already has client ${JSON.stringify(name)}`);
    const c: Client = { name, weight: checkWeight(weight), alloc: Object.create(null) as Record<string, number>, share: 0, index: this.order.length };
    this.clients.set(name, c);
    this.order.push(c);
    this.reposition(c);
  }

  /** Removes a client (and its allocation). Returns false when it was not present. */
  remove(name: string): boolean {
    const c = this.clients.get(name);
    if (!c) return false;
    this.clients.delete(name);
    this.order.splice(c.index, 1);
    for (let i = c.index; i < this.order.length; i++) this.order[i]!.index = i;
    return true;
  }

  setWeight(name: string, weight: number): void {
    const c = this.get(name);
    c.weight = checkWeight(weight);
    c.share = this.computeShare(c);
    this.reposition(c);
  }

  weightOf(name: string): number {
    return this.get(name).weight;
  }

  /** Accounts `scalars` as allocated to the client (tasks or outstanding offers). */
  allocate(name: string, scalars: Readonly<Record<string, number>>): void {
    const c = this.get(name);
    for (const k in scalars) {
      const v = scalars[k]!;
      if (v > 0) c.alloc[k] = roundScalar((c.alloc[k] ?? 0) + v);
    }
    c.share = this.computeShare(c);
    this.reposition(c);
  }

  /** Returns `scalars` from the client's allocation (clamped at zero). */
  unallocate(name: string, scalars: Readonly<Record<string, number>>): void {
    const c = this.get(name);
    for (const k in scalars) {
      const v = scalars[k]!;
      if (!(v > 0) || c.alloc[k] === undefined) continue;
      const left = roundScalar(c.alloc[k]! - v);
      if (left > 0) c.alloc[k] = left;
      else delete c.alloc[k];
    }
    c.share = this.computeShare(c);
    this.reposition(c);
  }

  allocation(name: string): Record<string, number> {
    return { ...this.get(name).alloc };
  }

  /** Weighted dominant share. */
  share(name: string): number {
    return this.get(name).share;
  }

  /** Unweighted dominant share (what Mesos reports as `shares/dominant`). */
  dominantShare(name: string): number {
    const c = this.get(name);
    return c.share * c.weight;
  }

  /** Client names, lowest weighted share first, ties by name. */
  sort(): string[] {
    return this.order.map((c) => c.name);
  }

  /** The i-th client in sort order (zero-copy walk; valid until the next mutation). */
  nameAt(i: number): string {
    const c = this.order[i];
    if (!c) throw new RangeError(`no client at sorted position ${i}`);
    return c.name;
  }

  private get(name: string): Client {
    const c = this.clients.get(name);
    if (!c) throw new Error(`DRF sorter has no client ${JSON.stringify(name)}`);
    return c;
  }

  private computeShare(c: Client): number {
    let share = 0;
    const names = this.totalNames;
    const totals = this.totalValues;
    for (let i = 0; i < names.length; i++) {
      const a = c.alloc[names[i]!];
      if (a !== undefined) {
        const s = a / totals[i]!;
        if (s > share) share = s;
      }
    }
    return share / c.weight;
  }

  /** Moves one client whose share changed to its place; everything else stays sorted. */
  private reposition(c: Client): void {
    const order = this.order;
    let i = c.index;
    while (i > 0 && less(c, order[i - 1]!)) {
      const prev = order[i - 1]!;
      order[i] = prev;
      prev.index = i;
      i--;
    }
    if (i === c.index) {
      while (i < order.length - 1 && less(order[i + 1]!, c)) {
        const next = order[i + 1]!;
        order[i] = next;
        next.index = i;
        i++;
      }
    }
    order[i] = c;
    c.index = i;
  }
}
