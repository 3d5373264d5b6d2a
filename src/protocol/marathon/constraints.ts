// App placement constraints `[field, OPERATOR, value?]` (marathon.md §7): validation with
// Marathon's messages, and the Java-regex compilation LIKE/UNLIKE evaluation needs.
import type { ViolationPath, Violations } from './errors.ts';

export const CONSTRAINT_OPERATORS = ['UNIQUE', 'CLUSTER', 'GROUP_BY', 'LIKE', 'UNLIKE', 'MAX_PER', 'IS'] as const;
export type ConstraintOperator = (typeof CONSTRAINT_OPERATORS)[number];
/** A normalized app constraint: operator upper-cased, value present only when given. */
export type Constraint = [field: string, operator: ConstraintOperator, value?: string];

export const ConstraintMessages = {
  fieldCount: 'Each constraint must have either 2 or 3 fields',
  missingField: 'missing field for constraint declaration',
  operatorInvalid: 'operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS',
  uniqueNoValue: 'UNIQUE does not accept a value',
  groupByInt: 'GROUP BY must define an integer value or else no value at all',
  maxPerInt: 'MAX_PER requires an integer value',
  likeRegex: 'LIKE and UNLIKE require a non-empty, regular expression value',
  invalidRegex: 'is not a valid regular expression',
  isRequiresValue: 'IS requires a value',
  isOnlyText:
    'IS only supports Mesos text and float values (see http://mesos.apache.org/documentation/latest/attributes-resources/)',
} as const;

const IS_VALUE_RE = /^[a-zA-Z0-9_/.-]*$/;

/** Java's Integer.parseInt acceptance: optional sign, decimal digits, within int32. */
export function isJavaInt(s: string): boolean {
  if (!/^[+-]?\d+$/.test(s)) return false;
  const n = Number(s);
  return n >= -2147483648 && n <= 2147483647;
}

/**
 * Compiles a Java regular expression as a JS RegExp that must match the whole value
 * (Java's `matches()`), or throws. A leading `(?i)` inline flag becomes the `i` flag.
 */
export function compileJavaRegex(pattern: string): RegExp {
  let flags = '';
  let body = pattern;
  const inline = /^\(\?([imsx]+)\)/.exec(body);
  if (inline) {
    for (const f of inline[1]!) if (f === 'i' || f === 'm' || f === 's') flags += f;
    body = body.slice(inline[0].length);
  }
  return new RegExp(`^(?:${body})$`, flags);
}

/**
 * Validates one constraint (raw JSON) and returns its normalized form, or undefined after
 * adding violations at `path` (e.g. `/constraints(0)`).
 */
export function validateConstraint(raw: unknown, path: ViolationPath, v: Violations): Constraint | undefined {
  if (!Array.isArray(raw)) {
    v.add(path, 'error.expected.jsarray');
    return undefined;
  }
  let typeOk = true;
  raw.forEach((el, i) => {
    if (typeof el !== 'string') {
      v.add([...path, i], 'error.expected.jsstring');
      typeOk = false;
    }
  });
  if (!typeOk) return undefined;
  const parts = raw as string[];
  if (parts.length < 2 || parts.length > 3) {
    v.add(path, ConstraintMessages.fieldCount);
    return undefined;
  }
  const [field, opRaw, value] = parts as [string, string, string | undefined];
  if (field.length === 0) {
    v.add(path, ConstraintMessages.missingField);
    return undefined;
  }
  const op = opRaw.toUpperCase();
  if (!(CONSTRAINT_OPERATORS as readonly string[]).includes(op)) {
    v.add(path, ConstraintMessages.operatorInvalid);
    return undefined;
  }
  const message = constraintValueError(op as ConstraintOperator, value);
  if (message) {
    v.add(path, message);
    return undefined;
  }
  return value === undefined ? [field, op as ConstraintOperator] : [field, op as ConstraintOperator, value];
}

/** The value rule of an operator; undefined when the value is acceptable. */
export function constraintValueError(op: ConstraintOperator, value: string | undefined): string | undefined {
  switch (op) {
    case 'UNIQUE':
      return value === undefined ? undefined : ConstraintMessages.uniqueNoValue;
    case 'CLUSTER':
      return undefined; // value is optional
    case 'GROUP_BY':
      return value === undefined || isJavaInt(value) ? undefined : ConstraintMessages.groupByInt;
    case 'MAX_PER':
      return value !== undefined && isJavaInt(value) ? undefined : ConstraintMessages.maxPerInt;
    case 'LIKE':
    case 'UNLIKE':
      if (value === undefined || value.length === 0) return ConstraintMessages.likeRegex;
      try {
        compileJavaRegex(value);
        return undefined;
      } catch {
        return `'${value}' ${ConstraintMessages.invalidRegex}`;
      }
    case 'IS':
      if (value === undefined) return ConstraintMessages.isRequiresValue;
      return IS_VALUE_RE.test(value) ? undefined : ConstraintMessages.isOnlyText;
  }
}
