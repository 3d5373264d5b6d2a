// Constraint field values, formatted exactly as Marathon compares them (marathon.md §7,
// Constraints.scala `getValueString`): scalars through Java's `DecimalFormat("0.###")`
// (≤ 3 decimals, ROUND_HALF_EVEN on the exact binary value, trailing zeros dropped, no
// grouping), text as-is, ranges `[b-e,b-e]` sorted by begin, sets `{a,b}` sorted.
import type { Attribute } from '../../protocol/mesos.ts';

/**
 * Java `new DecimalFormat("0.###").format(x)`. `Number.prototype.toFixed` already rounds the
 * exact binary value to nearest; it only differs from HALF_EVEN on exact ties, which for three
 * decimals are precisely the doubles `m/16` with `m` odd (x·1000 = 62.5·m). Those are rounded
 * to the even neighbour here (0.0625 → "0.062", 0.1875 → "0.188").
 */
export function formatScalar(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? '\u221E' : '-\u221E';
  const negative = x < 0 || Object.is(x, -0);
  const a = Math.abs(x);
  let text: string;
  const sixteenths = a * 16; // exact (power of two)
  if (Number.isInteger(sixteenths) && sixteenths % 2 === 1) {
    // Exact tie at the third decimal: a = m/16, a·1000 = 125m/2 with 125m odd.
    const m = BigInt(sixteenths);
    const k = (125n * m - 1n) / 2n; // floor(a·1000)
    const thousandths = k % 2n === 0n ? k : k + 1n;
    text = `${thousandths / 1000n}.${(thousandths % 1000n).toString().padStart(3, '0')}`;
  } else if (a >= 1e21) {
    text = BigInt(a).toString(); // integral; toFixed would switch to exponent notation
  } else {
    text = a.toFixed(3);
  }
  if (text.includes('.')) text = text.replace(/0+$/, '').replace(/\.$/, '');
  return negative ? `-${text}` : text;
}

/** An agent attribute's value as Marathon compares it. */
export function attributeValueString(a: Attribute): string {
  switch (a.type) {
    case 'SCALAR':
      return formatScalar(a.scalar?.value ?? 0);
    case 'TEXT':
      return a.text?.value ?? '';
    case 'RANGES': {
      const rs = [...(a.ranges?.range ?? [])].sort((x, y) => x.begin - y.begin);
      return `[${rs.map((r) => `${r.begin}-${r.end}`).join(',')}]`;
    }
    case 'SET': {
      // Scala's default String ordering compares UTF-16 code units, as JS's default sort.
      return `{${[...(a.set?.item ?? [])].sort().join(',')}}`;
    }
    default:
      return '';
  }
}

/** What constraint fields are read from: an offer or a placed instance. */
export interface FieldSource {
  hostname: string;
  attributes: readonly Attribute[];
  region?: string;
  zone?: string;
}

/** Reads a constraint field; `undefined` = the agent does not have it. */
export type FieldReader = (src: FieldSource) => string | undefined;

const hostnameReader: FieldReader = (s) => s.hostname;
const regionReader: FieldReader = (s) => s.region;
const zoneReader: FieldReader = (s) => s.zone;

/** Canonical field identity: `hostname` and `@hostname` are the same field. */
export function canonicalField(field: string): string {
  return field === 'hostname' ? '@hostname' : field;
}

/** `hostname`/`@hostname` → offer hostname; `@region`, `@zone` → fault domain; else the attribute. */
export function fieldReader(field: string): FieldReader {
  switch (field) {
    case 'hostname':
    case '@hostname':
      return hostnameReader;
    case '@region':
      return regionReader;
    case '@zone':
      return zoneReader;
    default:
      return (s) => {
        const a = (s.attributes ?? []).find((x) => x.name === field);
        return a ? attributeValueString(a) : undefined;
      };
  }
}

export function fieldValue(src: FieldSource, field: string): string | undefined {
  return fieldReader(field)(src);
}
