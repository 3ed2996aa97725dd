import { z } from 'zod';

/** The error body every non-2xx JSON answer has (see src/api/errors.ts). */
export const errorSchema = z.object({
  statusCode: z.number().int(),
  code: z.string(),
  error: z.string(),
  message: z.string(),
});

/** Job ids as the job service makes them; checked before any service is asked. */
export const JOB_ID_PATTERN = /^job_[a-z0-9]{26}$/;
/** Model ids as the model store makes them. */
export const MODEL_ID_PATTERN = /^mdl_[a-z0-9]{26}$/;

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
