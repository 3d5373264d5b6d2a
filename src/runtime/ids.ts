import { randomUUID } from 'node:crypto';

// IDs and randomness are injected so simulations can replay a run from a seed.
export interface IdSource {
  uuid(): string;
  /** A random float in [0, 1). */
  random(): number;
}

export const systemIds: IdSource = {
  uuid: () => randomUUID(),
  random: () => Math.random(),
};

/** Deterministic ids for tests: mulberry32 PRNG seeded by `seed`. */
export function seededIds(seed: number): IdSource {
  let s = seed >>> 0;
  const random = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const hex = (n: number) =>
    Array.from({ length: n }, () => Math.floor(random() * 16).toString(16)).join('');
  return {
    random,
    uuid: () => `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`,
  };
}
