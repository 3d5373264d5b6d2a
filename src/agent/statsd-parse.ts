// The StatsD line protocol, as DC/OS's metrics module reads what tasks send to STATSD_UDP_HOST:PORT:
//   <name>:<value>|<type>[|@<sample rate>][|#<tags>]   one or more lines per datagram
// Types: c (counter), g (gauge; a leading + or - changes it instead of setting it), ms / h / d (timer,
// histogram, distribution: durations in ms). Sets (s) and tags are not aggregated: sets are counted as
// unsupported, tags are ignored (they would let a task create unbounded series).

export type StatsdType = 'counter' | 'gauge' | 'timer';

export interface StatsdSample {
  name: string;
  type: StatsdType;
  value: number;
  /** 0 < rate ≤ 1: the sender sampled 1 in 1/rate events. */
  rate: number;
  /** A gauge change (+n / -n) rather than a new value. */
  delta?: boolean;
}

export interface ParsedPacket {
  samples: StatsdSample[];
  /** Lines that are not StatsD. */
  malformed: number;
  /** Valid lines of a kind not aggregated (sets). */
  unsupported: number;
}

export const MAX_NAME_LENGTH = 200;
const TYPES: Record<string, StatsdType | 'set'> = { c: 'counter', g: 'gauge', ms: 'timer', h: 'timer', d: 'timer', s: 'set' };

export function parseStatsdLine(line: string): StatsdSample | 'malformed' | 'unsupported' {
  const colon = line.lastIndexOf(':', line.indexOf('|'));
  if (colon <= 0) return 'malformed';
  const name = line.slice(0, colon).trim();
  const fields = line.slice(colon + 1).split('|');
  if (fields.length < 2 || name.length > MAX_NAME_LENGTH) return 'malformed';
  const type = TYPES[fields[1]!.trim()];
  if (!type) return 'malformed';
  if (type === 'set') return 'unsupported';
  const raw = fields[0]!.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw)) return 'malformed';
  const value = Number(raw);
  if (!Number.isFinite(value)) return 'malformed';
  let rate = 1;
  for (const f of fields.slice(2)) {
    if (!f.startsWith('@')) continue; // tags (#…) and extensions are ignored
    rate = Number(f.slice(1));
    if (!(rate > 0 && rate <= 1)) return 'malformed';
  }
  const sample: StatsdSample = { name, type, value, rate };
  if (type === 'gauge' && /^[+-]/.test(raw)) sample.delta = true;
  if (type === 'timer' && value < 0) return 'malformed';
  return sample;
}

export function parseStatsdPacket(text: string): ParsedPacket {
  const out: ParsedPacket = { samples: [], malformed: 0, unsupported: 0 };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const r = parseStatsdLine(line.replace(/\r$/, ''));
    if (r === 'malformed') out.malformed++;
    else if (r === 'unsupported') out.unsupported++;
    else out.samples.push(r);
  }
  return out;
}
