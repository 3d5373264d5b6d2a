// Typed reads over untrusted JSON that record Marathon-style violations instead of
// throwing, so a whole request is checked in one pass. Type mismatches use play-json's
// keys (error.expected.jsnumber, …); range failures use accord's wording
// ("got -1.0, expected 0.0 or more"), with Scala's rendering of doubles.
import type { ViolationPath, Violations } from './errors.ts';

export type Json = unknown;
export type JsonObject = Record<string, unknown>;

export const Msg = {
  missing: 'error.path.missing',
  string: 'error.expected.jsstring',
  number: 'error.expected.jsnumber',
  int: 'error.expected.int',
  boolean: 'error.expected.jsboolean',
  array: 'error.expected.jsarray',
  object: 'error.expected.jsobject',
  date: 'error.expected.date.isoformat',
  notEmpty: 'must not be empty',
  notDefined: 'not defined',
} as const;

/** Java's Double.toString (what accord messages show for doubles): `1.0`, `0.5`, `1.0E-4`, `1.5E7`. */
export function javaDouble(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
  if (Object.is(n, -0)) return '-0.0';
  const abs = Math.abs(n);
  if (abs === 0 || (abs >= 1e-3 && abs < 1e7)) {
    const s = String(n);
    return s.includes('.') ? s : `${s}.0`;
  }
  const [mant, exp] = n.toExponential().split('e') as [string, string];
  return `${mant.includes('.') ? mant : `${mant}.0`}E${Number(exp)}`;
}

export const fmtNum = (n: number, double: boolean): string => (double ? javaDouble(n) : String(n));

export const isObject = (x: unknown): x is JsonObject => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Absent and JSON null both mean "not given" (play-json Option semantics). */
export const given = (x: unknown): boolean => x !== undefined && x !== null;

export interface NumberRule {
  /** Integral field (Int/Long): non-integers fail with error.expected.int. */
  int?: boolean;
  min?: number;
  max?: number;
  /** Strict lower bound ("got 0, expected more than 0"). */
  gt?: number;
  /** Render bounds/values as doubles in messages (cpus, mem, …). */
  double?: boolean;
}

export class Reader {
  constructor(readonly v: Violations) {}

  fail(path: ViolationPath, message: string): undefined {
    this.v.add(path, message);
    return undefined;
  }

  object(x: unknown, path: ViolationPath): JsonObject | undefined {
    if (!given(x)) return undefined;
    return isObject(x) ? x : this.fail(path, Msg.object);
  }

  string(x: unknown, path: ViolationPath, opts: { nonEmpty?: boolean; maxLength?: number } = {}): string | undefined {
    if (!given(x)) return undefined;
    if (typeof x !== 'string') return this.fail(path, Msg.string);
    if (opts.nonEmpty && x.length === 0) return this.fail(path, Msg.notEmpty);
    if (opts.maxLength !== undefined && x.length > opts.maxLength)
      return this.fail(path, `got ${x.length}, expected ${opts.maxLength} or less`);
    return x;
  }

  bool(x: unknown, path: ViolationPath): boolean | undefined {
    if (!given(x)) return undefined;
    return typeof x === 'boolean' ? x : this.fail(path, Msg.boolean);
  }

  number(x: unknown, path: ViolationPath, rule: NumberRule = {}): number | undefined {
    if (!given(x)) return undefined;
    if (typeof x !== 'number' || !Number.isFinite(x)) return this.fail(path, Msg.number);
    if (rule.int && !Number.isInteger(x)) return this.fail(path, Msg.int);
    const d = rule.double ?? !rule.int;
    let ok = true;
    if (rule.min !== undefined && x < rule.min) ok = !!this.fail(path, `got ${fmtNum(x, d)}, expected ${fmtNum(rule.min, d)} or more`);
    if (rule.max !== undefined && x > rule.max) ok = !!this.fail(path, `got ${fmtNum(x, d)}, expected ${fmtNum(rule.max, d)} or less`);
    if (rule.gt !== undefined && x <= rule.gt) ok = !!this.fail(path, `got ${fmtNum(x, d)}, expected more than ${fmtNum(rule.gt, d)}`);
    return ok ? x : undefined;
  }

  int(x: unknown, path: ViolationPath, rule: Omit<NumberRule, 'int'> = {}): number | undefined {
    return this.number(x, path, { ...rule, int: true });
  }

  enumOf<T extends string>(x: unknown, path: ViolationPath, values: readonly T[]): T | undefined {
    const s = this.string(x, path);
    if (s === undefined) return undefined;
    if ((values as readonly string[]).includes(s)) return s as T;
    return this.fail(path, `got ${s}, expected one of: [${values.join(', ')}]`);
  }

  /** `pattern` is the message's regex text; `re` the equivalent full-match JS RegExp. */
  matching(x: unknown, path: ViolationPath, re: RegExp, pattern: string): string | undefined {
    const s = this.string(x, path);
    if (s === undefined) return undefined;
    return re.test(s) ? s : this.fail(path, `must fully match regular expression '${pattern}'`);
  }

  array<T>(
    x: unknown,
    path: ViolationPath,
    item: (el: unknown, path: ViolationPath, i: number) => T | undefined,
    nullMessage: string = Msg.object,
  ): T[] | undefined {
    if (!given(x)) return undefined;
    if (!Array.isArray(x)) return this.fail(path, Msg.array);
    const out: T[] = [];
    x.forEach((el, i) => {
      const p = [...path, i];
      if (el === null || el === undefined) {
        this.fail(p, nullMessage);
        return;
      }
      const r = item(el, p, i);
      if (r !== undefined) out.push(r);
    });
    return out; // partial results (valid items only) still feed later cross-field checks
  }

  stringArray(x: unknown, path: ViolationPath, opts: { nonEmptyItems?: boolean } = {}): string[] | undefined {
    return this.array(x, path, (el, p) => this.string(el, p, { nonEmpty: opts.nonEmptyItems }), Msg.string);
  }

  intArray(x: unknown, path: ViolationPath, rule: Omit<NumberRule, 'int'> = {}): number[] | undefined {
    return this.array(x, path, (el, p) => this.int(el, p, rule), Msg.number);
  }

  /** An object of string values (labels): `/labels/KEY` on a non-string value. */
  stringMap(x: unknown, path: ViolationPath): Record<string, string> | undefined {
    const o = this.object(x, path);
    if (!o) return undefined;
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(o)) {
      const s = this.string(val, [...path, k]);
      if (s !== undefined) out[k] = s;
      else if (!given(val)) this.fail([...path, k], Msg.string);
    }
    return out;
  }

  /** Required field: records error.path.missing when absent. */
  required<T>(o: JsonObject, key: string, path: ViolationPath, read: (x: unknown, p: ViolationPath) => T | undefined): T | undefined {
    if (!given(o[key])) return this.fail([...path, key], Msg.missing);
    return read(o[key], [...path, key]);
  }
}
