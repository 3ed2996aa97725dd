import { z } from 'zod';

import { JOB_ID_PATTERN, MODEL_ID_PATTERN } from '../../contracts/ids.js';

/** The error body every non-2xx JSON answer has (see src/api/errors.ts). */
export const errorSchema = z.object({
  statusCode: z.number().int(),
  code: z.string(),
  error: z.string(),
  message: z.string(),
  /** On a 400: every bad field by its path, for clients that mark fields (the dashboard). */
  fields: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  /** RNNLM_MODEL_TOO_LARGE: the estimate and the limits it is over. */
  details: z.record(z.string(), z.unknown()).optional(),
});

export const jobIdSchema = z
  .string()
  .max(100)
  .regex(JOB_ID_PATTERN, `must match ${String(JOB_ID_PATTERN)}`);
export const modelIdSchema = z
  .string()
  .max(100)
  .regex(MODEL_ID_PATTERN, `must match ${String(MODEL_ID_PATTERN)}`);

/** A query-string boolean: `true`/`false`/`1`/`0`. */
export const queryBooleanSchema = z
  .enum(['true', 'false', '1', '0'])
  .transform((v) => v === 'true' || v === '1');
