import { z } from 'zod';

import { jobEventSchema, jobRequestSchema, jobSchema, jobStatusSchema } from '../../queue/contracts.js';
import { JOB_LIMITS, type JobLimits } from '../../queue/limits.js';
import { jobIdSchema } from './common.js';

export const jobParamsSchema = z.object({ id: jobIdSchema }).strict();

/** `Idempotency-Key` maps one key to one job. */
export const submitHeadersSchema = z.looseObject({
  'idempotency-key': z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('Repeating a request with the same key returns the job it created (200) instead of a new one.'),
});

/** The JSON body of `POST /jobs`. */
export const submitBodySchema = jobRequestSchema;

/** The `config` field of a multipart `POST /jobs`: the JSON body less the corpus, which is the file. */
export const multipartConfigSchema = jobRequestSchema.omit({ corpus: true });

/**
 * What `POST /jobs` accepts, for the OpenAPI document only: the route reads its body itself
 * (JSON with {@link submitBodySchema}, or the multipart form), so it declares no `body` schema.
 */
export const submitBodyContent = {
  'application/json': { schema: submitBodySchema },
  'multipart/form-data': {
    schema: z
      .object({
        corpus: z
          .string()
          .meta({ contentMediaType: 'application/octet-stream', description: 'The training text (UTF-8).' }),
        validation: z.string().optional().meta({
          contentMediaType: 'application/octet-stream',
          description: 'A separate validation text (UTF-8); or give `validation` in `config`.',
        }),
        config: z.string().optional().meta({
          contentMediaType: 'application/json',
          description: 'The JSON body less `corpus` (a `JobRequest` without it).',
        }),
      })
      .strict(),
  },
};

export const listJobsQuerySchema = z
  .object({
    status: jobStatusSchema.optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().min(1).max(200).optional().describe('The `nextCursor` of the previous page.'),
  })
  .strict();

export const jobListSchema = z
  .object({
    items: z.array(jobSchema),
    nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page.'),
  })
  .meta({ id: 'JobList' });

export const eventsQuerySchema = z
  .object({
    format: z.enum(['sse', 'json']).default('sse'),
  })
  .strict();

export const eventsHeadersSchema = z.looseObject({
  /** The `id:` of the last event the client saw; the stream resumes after it. */
  'last-event-id': z
    .string()
    .regex(/^\d+-\d+$/, 'must be an event id as sent in `id:`')
    .optional()
    .describe('The `id` of the last event seen; the stream resumes after it.'),
});

export const jobEventListSchema = z.object({ items: z.array(jobEventSchema) }).meta({ id: 'JobEventList' });

interface LimitPath {
  path: readonly string[];
  max: number;
}

/** Objects down each path, a number at most its limit at its end; keys in the order given. */
function limitShape(entries: readonly LimitPath[]): Record<string, z.ZodType> {
  const groups = new Map<string, LimitPath[]>();
  for (const { path, max } of entries) {
    const [key, ...rest] = path;
    if (key !== undefined) groups.set(key, [...(groups.get(key) ?? []), { path: rest, max }]);
  }
  return Object.fromEntries(
    [...groups].map(([key, inner]) => {
      const leaf = inner.find((entry) => entry.path.length === 0);
      return [
        key,
        leaf === undefined
          ? z.looseObject(limitShape(inner)).optional()
          : z.number().max(leaf.max).optional(),
      ];
    }),
  );
}

/**
 * A schema over the fields {@link JOB_LIMITS} has the API check as the request arrives, so a
 * request over a limit is a 400 that names the field (`body.model.hiddenSize: Too big:
 * expected number to be <=2048`) before anything is stored or queued. Other fields pass
 * through untouched: `submitBodySchema` checks them, the job service the remaining limits.
 */
export function jobLimitsSchema(limits: JobLimits) {
  return z.looseObject(
    limitShape(
      JOB_LIMITS.filter((limit) => limit.atRequest).map(({ field, setting }) => ({
        path: field.split('.'),
        max: limits[setting],
      })),
    ),
  );
}
