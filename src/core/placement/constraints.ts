// Marathon app constraints (marathon.md §7; Constraints.scala, SchedulingValidation.scala):
// one small plugin per operator. Each compiles `[field, OP, value?]` once per placement call
// and then checks an offer's field value against the per-field group counts of the app's
// placed instances (existing ones plus those placed earlier in the same call).
import { formatScalar } from './attributes.ts';

export const CONSTRAINT_OPERATORS = ['UNIQUE', 'CLUSTER', 'GROUP_BY', 'LIKE', 'UNLIKE', 'MAX_PER', 'IS'] as const;
export type ConstraintOperator = (typeof CONSTRAINT_OPERATORS)[number];

/**
 * How many placed instances have each value of one field. Instances lacking the field form one
 * extra group (Marathon groups by `Option[String]`, so `None` is a group of its own for GROUP_BY).
 */
export class FieldGroups {
  private readonly counts = new Map<string, number>();
  private missing = 0;
  private firstSeen = false;
  private firstValue: string | undefined;
  private minCache: number | undefined;

  add(value: string | undefined): void {
    this.minCache = undefined;
    if (!this.firstSeen) {
      this.firstSeen = true;
      this.firstValue = value;
    }
    if (value === undefined) this.missing++;
    else this.counts.set(value, (this.counts.get(value) ?? 0) + 1);
  }

  /** Placed instances whose field value is `value`. */
  count(value: string): number {
    return this.counts.get(value) ?? 0;
  }

  /** Number of distinct groups, the "missing" group included. */
  groupCount(): number {
    return this.counts.size + (this.missing > 0 ? 1 : 0);
  }

  /** Size of the smallest group (0 when nothing is placed). */
  minCount(): number {
    if (this.minCache !== undefined) return this.minCache;
    let min = this.missing > 0 ? this.missing : Infinity;
    for (const n of this.counts.values()) if (n < min) min = n;
    return (this.minCache = min === Infinity ? 0 : min);
  }

  /** The first placed instance's value: `{ value }` (value undefined = it lacks the field), or undefined when nothing is placed. */
  first(): { value: string | undefined } | undefined {
    return this.firstSeen ? { value: this.firstValue } : undefined;
  }
}

export type ConstraintCheck = (offerValue: string, groups: FieldGroups) => { ok: true } | { ok: false; detail: string };

/** One operator's plugin. */
export interface ConstraintOperatorPlugin {
  readonly operator: ConstraintOperator;
  /** Whether an offer lacking the field passes (only UNLIKE). */
  readonly acceptsMissingField: boolean;
  /** Whether the check reads the placed instances (else its verdict on an offer never changes). */
  dependsOnPlaced(value: string): boolean;
  /** Compiles the operator's value; never throws (an unusable value rejects every offer). */
  compile(field: string, value: string): ConstraintCheck;
}

const OK = { ok: true } as const;
const fail = (detail: string) => ({ ok: false as const, detail });
const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

/** Java `Integer.parseInt` (what Scala's `String.toInt` calls). */
export function parseJavaInt(s: string): number | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n >= -2147483648 && n <= 2147483647 ? n : undefined;
}

/** Java `String.matches`: the whole value must match. `undefined` when the pattern does not compile. */
export function compileFullMatch(pattern: string): RegExp | undefined {
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch {
    return undefined;
  }
}

const MESOS_SCALAR_VALUE = /^[0-9]+(?:\.[0-9]+)?$/;

export const UNIQUE: ConstraintOperatorPlugin = {
  operator: 'UNIQUE',
  acceptsMissingField: false,
  dependsOnPlaced: () => true,
  compile: (field) => (v, g) => {
    const n = g.count(v);
    return n === 0 ? OK : fail(`${plural(n, 'instance')} already on ${field}=${v}`);
  },
};

export const CLUSTER: ConstraintOperatorPlugin = {
  operator: 'CLUSTER',
  acceptsMissingField: false,
  dependsOnPlaced: (value) => value === '',
  compile: (field, value) =>
    value !== ''
      ? (v) => (v === value ? OK : fail(`${field}=${v}, must be ${value}`))
      : (v, g) => {
          // Without value: the first placed instance fixes the value for all others.
          const first = g.first();
          if (!first || first.value === v) return OK;
          return fail(
            first.value === undefined
              ? `first instance's agent has no ${field}`
              : `${field}=${v}, instances are clustered on ${first.value}`,
          );
        },
};

/** Marathon's `getIntValue(value, 0)`: "inf" → Int.MaxValue, integer → it, anything else → 0. */
export function groupByMinimum(value: string): number {
  if (value === 'inf') return 2147483647;
  return Math.max(0, parseJavaInt(value) ?? 0);
}

export const GROUP_BY: ConstraintOperatorPlugin = {
  operator: 'GROUP_BY',
  acceptsMissingField: false,
  dependsOnPlaced: () => true,
  compile: (field, value) => {
    const minimum = groupByMinimum(value);
    // Classic rule (Marathon ≤ 1.8): a value not used yet is always fine; a used one only once
    // at least `minimum` distinct values are in use and its group is (one of) the smallest.
    return (v, g) => {
      const n = g.count(v);
      if (n === 0) return OK;
      const groups = g.groupCount();
      if (groups < minimum) return fail(`${groups} of ${minimum} ${field} values in use, ${field}=${v} already has ${n}`);
      const min = g.minCount();
      return n === min ? OK : fail(`${field}=${v} has ${n}, smallest group has ${min}`);
    };
  },
};

export const MAX_PER: ConstraintOperatorPlugin = {
  operator: 'MAX_PER',
  acceptsMissingField: false,
  dependsOnPlaced: () => true,
  compile: (field, value) => {
    const max = parseJavaInt(value);
    if (max === undefined) return () => fail('MAX_PER requires an integer value');
    // As Marathon: a value with no instance yet is always accepted (so MAX_PER 0 acts like 1).
    return (v, g) => {
      const n = g.count(v);
      return n === 0 || n < max ? OK : fail(`${field}=${v} already has ${n} of at most ${max}`);
    };
  },
};

export const LIKE: ConstraintOperatorPlugin = {
  operator: 'LIKE',
  acceptsMissingField: false,
  dependsOnPlaced: () => false,
  compile: (field, value) => {
    if (value === '') return () => fail('LIKE requires a non-empty regular expression');
    const re = compileFullMatch(value);
    if (!re) return () => fail(`invalid regular expression ${JSON.stringify(value)}`);
    return (v) => (re.test(v) ? OK : fail(`${field}=${v} does not match ${value}`));
  },
};

export const UNLIKE: ConstraintOperatorPlugin = {
  operator: 'UNLIKE',
  acceptsMissingField: true,
  dependsOnPlaced: () => false,
  compile: (field, value) => {
    if (value === '') return () => fail('UNLIKE requires a non-empty regular expression');
    const re = compileFullMatch(value);
    if (!re) return () => fail(`invalid regular expression ${JSON.stringify(value)}`);
    return (v) => (re.test(v) ? fail(`${field}=${v} matches ${value}`) : OK);
  },
};

export const IS: ConstraintOperatorPlugin = {
  operator: 'IS',
  acceptsMissingField: false,
  dependsOnPlaced: () => false,
  compile: (field, value) => {
    // A numeric constraint value is formatted like a scalar attribute ("0.80" → "0.8").
    const expected = MESOS_SCALAR_VALUE.test(value) ? formatScalar(Number(value)) : value;
    return (v) => (v === expected ? OK : fail(`${field}=${v}, must be ${expected}`));
  },
};

export const CONSTRAINT_PLUGINS: Record<ConstraintOperator, ConstraintOperatorPlugin> = {
  UNIQUE,
  CLUSTER,
  GROUP_BY,
  LIKE,
  UNLIKE,
  MAX_PER,
  IS,
};

/** `["hostname","UNIQUE"]` → `"hostname:UNIQUE"` (the key of `constraintRejections`). */
export function constraintKey(c: readonly unknown[]): string {
  return c.map((x) => String(x)).join(':');
}

export const OPERATOR_INVALID = 'operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS';
export const IS_ONLY_SUPPORTS_TEXT =
  'IS only supports Mesos text and float values (see http://mesos.apache.org/documentation/latest/attributes-resources/)';

/**
 * Marathon's app constraint validation (SchedulingValidation `complyWithAppConstraintRules`):
 * the 422 message for one `[field, OP, value?]`, or undefined when valid.
 */
export function validateConstraint(c: unknown): string | undefined {
  if (!Array.isArray(c) || c.length < 2 || c.length > 3) return 'Each constraint must have either 2 or 3 fields';
  if (!c.every((x) => typeof x === 'string')) return 'illegal constraint specification';
  const [field, op, value] = c as string[];
  if (!field) return 'illegal constraint specification';
  const operator = op!.toUpperCase();
  switch (operator) {
    case 'UNIQUE':
      return value === undefined ? undefined : 'UNIQUE does not accept a value';
    case 'CLUSTER':
      return undefined;
    case 'GROUP_BY':
      return value === undefined || parseJavaInt(value) !== undefined
        ? undefined
        : 'GROUP BY must define an integer value or else no value at all';
    case 'MAX_PER':
      return value !== undefined && parseJavaInt(value) !== undefined ? undefined : 'MAX_PER requires an integer value';
    case 'LIKE':
    case 'UNLIKE':
      if (value === undefined) return 'LIKE and UNLIKE require a non-empty, regular expression value';
      return compileFullMatch(value) ? undefined : 'is not a valid regular expression';
    case 'IS':
      return /^[a-zA-Z0-9_/.-]*$/.test(value ?? '') ? undefined : IS_ONLY_SUPPORTS_TEXT;
    default:
      return OPERATOR_INVALID;
  }
}

/** A constraint ready to evaluate. */
export interface CompiledConstraint {
  /** `field:OP[:value]` as given. */
  key: string;
  field: string;
  operator: string;
  value: string;
  acceptsMissingField: boolean;
  /** Whether the verdict depends on the placed instances (else it is fixed per offer). */
  dependsOnPlaced: boolean;
  check: ConstraintCheck;
  /** Set when the constraint is malformed: it then rejects every offer with this detail. */
  invalid?: string;
}

/** Compiles `[field, OP, value?]`; malformed constraints compile to a check that rejects every offer. */
export function compileConstraint(c: readonly unknown[]): CompiledConstraint {
  const key = constraintKey(c);
  const field = typeof c[0] === 'string' ? c[0] : '';
  const operator = typeof c[1] === 'string' ? c[1].toUpperCase() : '';
  const value = typeof c[2] === 'string' ? c[2] : '';
  const plugin = (CONSTRAINT_PLUGINS as Record<string, ConstraintOperatorPlugin | undefined>)[operator];
  if (!plugin || field === '' || c.length < 2 || c.length > 3) {
    const detail = `invalid constraint ${JSON.stringify(c)}: ${validateConstraint(c) ?? OPERATOR_INVALID}`;
    return { key, field, operator, value, acceptsMissingField: false, dependsOnPlaced: false, check: () => fail(detail), invalid: detail };
  }
  return {
    key,
    field,
    operator,
    value,
    acceptsMissingField: plugin.acceptsMissingField,
    dependsOnPlaced: plugin.dependsOnPlaced(value),
    check: plugin.compile(field, value),
  };
}
