import { z } from 'zod';

import { JOB_ID_PATTERN, MODEL_ID_PATTERN } from '../../queue/contracts.js';

/** The error body every non-2xx JSON answer has (see src/api/errors.ts). */
export const errorSchema = z.object({
  statusCode: z.number().int(),
  code: z.string(),
  error: z.string(),
  message: z.string(),
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
