// Why one URI could not be fetched. The code says whose fault it is (the task's URI or archive: BAD_REQUEST;
// too big: PAYLOAD_TOO_LARGE; the server or the network: UNAVAILABLE); the message names the URI and the cause,
// and becomes part of the task's TASK_FAILED message.
import { CorralError, type ErrorCode } from '../../protocol/errors.ts';

export class FetchError extends CorralError {
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, details);
  }
}

/** The fetch was cancelled (the task was killed, or the agent is stopping). */
export class FetchAbortedError extends FetchError {
  constructor(what = 'the fetch was cancelled') {
    super('UNAVAILABLE', what);
  }
}

/** Node's network errors hide the useful part (ECONNREFUSED 127.0.0.1:1) in `cause`. */
export function describeCause(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  const cause = err?.cause;
  if (cause?.message) return cause.message;
  if (cause?.code) return cause.code;
  return err?.message ?? String(e);
}
