import { isRnnlmError } from './errors/coded.js';
import { engineErrors } from './errors/engine.js';
import { fileErrors } from './errors/files.js';
import { serviceErrors } from './errors/service.js';

export { ERRORS, RnnlmError, isRnnlmError, type ErrorCode, type ErrorDetails } from './errors/coded.js';
export type { ModelSizeDetails } from './errors/engine.js';

/**
 * The registry of failures, in the manner of fastify's createError: each kind is declared once
 * with its code (hence HTTP status and retry policy, see src/errors/coded.ts), its message
 * template and the shape of its details, and thrown through its factory everywhere
 * (`throw errors.modelNotFound(id)`), so one kind of failure has one message.
 */
export const errors = { ...serviceErrors, ...engineErrors, ...fileErrors };

const DISK_FULL_CODES: ReadonlySet<unknown> = new Set(['ENOSPC', 'EDQUOT']);

/** A file system out of space (or quota), however deep in `cause` the errno error sits. */
export function isDiskFull(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (isRnnlmError(e, 'RNNLM_DISK_FULL') || DISK_FULL_CODES.has((e as { code?: unknown }).code))
      return true;
  }
  return false;
}

// An absolute path of three or more segments where a word starts (`/data/models/m/weights.bin`),
// so a route such as `/jobs/x` is left alone.
const ABSOLUTE_PATH = /(^|[\s'"`(=:,])(\/(?:[\w.@+~-]+\/){2,})([\w.@+~-]*)/g;

/**
 * The message without the server's directories: each absolute path is cut to its last part
 * (`weights.bin`), which still says which file is meant.
 */
export function redactPaths(message: string): string {
  return message.replace(ABSOLUTE_PATH, (_m, lead: string, _dirs: string, last: string) =>
    last === '' ? `${lead}…/` : `${lead}${last}`,
  );
}
