// One error hierarchy for the whole project. Every error carries a stable code
// that maps to an HTTP status, so adapters never invent their own mapping.
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'NOT_ACCEPTABLE'
  | 'CONFLICT'
  | 'GONE'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'UNPROCESSABLE'
  | 'NOT_IMPLEMENTED'
  | 'UNAVAILABLE'
  | 'INTERNAL';

export const httpStatusOf: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  NOT_ACCEPTABLE: 406,
  CONFLICT: 409,
  GONE: 410,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNPROCESSABLE: 422,
  NOT_IMPLEMENTED: 501,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

export class CorralError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Structured context: the offending field path, ids, limits… */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
  get status(): number {
    return httpStatusOf[this.code];
  }
}

/** Input that fails validation: says what is wrong and where. */
export class ValidationError extends CorralError {
  constructor(message: string, readonly path: string = '', details: Record<string, unknown> = {}) {
    super('BAD_REQUEST', path ? `${path}: ${message}` : message, { ...details, path });
  }
}

export class NotFoundError extends CorralError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('NOT_FOUND', message, details);
  }
}

export class ForbiddenError extends CorralError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('FORBIDDEN', message, details);
  }
}

export class ConflictError extends CorralError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('CONFLICT', message, details);
  }
}

/**
 * Asked for history the store no longer has: a watch from a revision older than the retained (or
 * compacted) history. The caller must re-read a snapshot and watch from its revision + 1.
 */
export class CompactedError extends CorralError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('GONE', message, details);
  }
}

export class UnavailableError extends CorralError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('UNAVAILABLE', message, details);
  }
}

/** A broken internal invariant: a bug, never the caller's fault. */
export class InvariantError extends CorralError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('INTERNAL', message, details);
  }
}

export function toCorralError(err: unknown): CorralError {
  if (err instanceof CorralError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new CorralError('INTERNAL', message);
}
