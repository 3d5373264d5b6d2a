// One schema → type, validation and error: every boundary parses with a zod
// schema through `parseOrThrow`, which turns the first issue into a
// ValidationError naming the offending field path.
import { z } from 'zod';
import { ValidationError } from './errors.ts';

export function formatPath(root: string, path: readonly PropertyKey[]): string {
  let out = root;
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, root = ''): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const where = formatPath(root, issue.path as PropertyKey[]);
  throw new ValidationError(issue.message, where, {
    issues: result.error.issues.slice(0, 10).map((i) => ({ path: formatPath(root, i.path as PropertyKey[]), message: i.message })),
  });
}

/** Mesos accepts numbers as JSON numbers or numeric strings; doubles also "Infinity". We reject non-finite values. */
export const finiteNumber = z
  .union([z.number(), z.string()])
  .transform((v, ctx) => {
    const n = typeof v === 'number' ? v : v.trim() === '' ? Number.NaN : Number(v);
    if (!Number.isFinite(n)) {
      ctx.addIssue({ code: 'custom', message: `must be a finite number, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return n;
  });

export const nonNegativeNumber = finiteNumber.refine((n) => n >= 0, { message: 'must not be negative' });
export const nonNegativeInt = finiteNumber.refine((n) => Number.isInteger(n) && n >= 0, {
  message: 'must be a non-negative integer',
});
