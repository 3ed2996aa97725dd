import multipart from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { z } from 'zod';

import { errors } from '../../errors.js';
import { jobSchema, type JobEvent } from '../../queue/contracts.js';
import type { JobService, SubmitInput } from '../../queue/types.js';
import type { ApiSettings } from '../settings.js';
import { parseRequest, toErrorBody } from '../errors.js';
import { illFormedPath } from '../plugins/json-body.js';
import { errorResponses, json, text } from '../schemas/common.js';
import {
  eventsHeadersSchema,
  eventsQuerySchema,
  jobEventListSchema,
  jobLimitsSchema,
  jobListSchema,
  jobParamsSchema,
  listJobsQuerySchema,
  multipartConfigSchema,
  submitBodyContent,
  submitBodySchema,
  submitHeadersSchema,
} from '../schemas/jobs.js';
import { SseStream } from '../sse.js';

export interface JobsRoutesOptions {
  jobs: JobService;
  settings: ApiSettings;
}

const jobLocation = {
  Location: { description: "The job's URL, `/jobs/{id}`.", schema: { type: 'string' } },
};

const FINAL_STATUSES: ReadonlySet<unknown> = new Set(['succeeded', 'failed', 'cancelled']);

/** Events read per round trip while catching up. */
const EVENT_PAGE = 500;

function byteLength(
  source: { text: string } | { bytes: Uint8Array } | { fraction: number } | undefined,
): number {
  if (source === undefined || 'fraction' in source) return 0;
  return 'text' in source ? Buffer.byteLength(source.text, 'utf8') : source.bytes.byteLength;
}

/**
 * Reads a multipart submission: the file field `corpus` (required), an optional file field
 * `validation`, and the JSON field `config` with everything else of the JSON body.
 */
async function readMultipart(
  request: FastifyRequest,
  settings: ApiSettings,
  limitsSchema: z.ZodType,
): Promise<SubmitInput> {
  let corpus: Uint8Array | undefined;
  let validation: Uint8Array | undefined;
  let rawConfig: string | undefined;
  for await (const part of request.parts({
    limits: { fileSize: settings.maxCorpusBytes, files: 2, fields: 1, fieldSize: 1024 * 1024, parts: 3 },
  })) {
    if (part.type === 'file') {
      if (part.fieldname !== 'corpus' && part.fieldname !== 'validation') {
        part.file.resume();
        throw errors.invalidRequest(
          `body.${part.fieldname}`,
          'unknown file field; send the corpus as `corpus`',
        );
      }
      const bytes = await part.toBuffer();
      if (part.fieldname === 'corpus') corpus = bytes;
      else validation = bytes;
    } else if (part.fieldname === 'config') {
      if (typeof part.value !== 'string') {
        throw errors.invalidRequest('body.config', 'must be a JSON text field');
      }
      rawConfig = part.value;
    } else {
      throw errors.invalidRequest(
        `body.${part.fieldname}`,
        'unknown field; send the settings as the JSON field `config`',
      );
    }
  }
  if (corpus === undefined) {
    throw errors.invalidRequest('body.corpus', 'a file field `corpus` is required');
  }
  let configValue: unknown = {};
  if (rawConfig !== undefined && rawConfig.trim().length > 0) {
    try {
      configValue = JSON.parse(rawConfig);
    } catch (err) {
      throw errors.invalidRequest('body.config', `not valid JSON (${(err as Error).message})`);
    }
  }
  const illFormed = illFormedPath(configValue, 'body.config');
  if (illFormed !== undefined) throw errors.notUnicode(illFormed);
  const config = parseRequest(multipartConfigSchema, configValue, 'body.config');
  parseRequest(limitsSchema, config, 'body.config');
  if (validation !== undefined && config.validation !== undefined) {
    throw errors.invalidRequest(
      'body.validation',
      'give the validation text either as a file or in config, not both',
    );
  }
  return {
    ...config,
    corpus: { bytes: corpus },
    ...(validation !== undefined ? { validation: { bytes: validation } } : {}),
  };
}

/** `/jobs`: submit, read, list, cancel and follow training jobs. */
export const jobsRoutes: FastifyPluginAsyncZod<JobsRoutesOptions> = async (app, { jobs, settings }) => {
  // Multipart is parsed here only: anywhere else a form is an unsupported media type.
  await app.register(multipart, { throwFileSizeLimit: true });
  const limitsSchema = jobLimitsSchema(settings.limits);

  app.post(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        operationId: 'submitJob',
        summary: 'Submit a training job',
        description: [
          'The corpus is stored on disk, addressed by its sha256, and the job is queued. Send JSON,',
          'or `multipart/form-data` with the corpus as the file field `corpus` (and optionally the',
          'validation text as the file field `validation`) and everything else as the JSON field',
          '`config`. Limits on the corpus size, vocabulary, layers, sizes, sequence length and steps',
          "come from the service's configuration; a request over them is a 400 (413 for the corpus).",
          'So is a model whose parameter count or estimated training memory (weights, gradients,',
          'optimizer state, activations) is over `RNNLM_MAX_PARAMS` or',
          '`RNNLM_MAX_TRAINING_MEMORY_BYTES`: 400 `RNNLM_MODEL_TOO_LARGE`, with the estimate and',
          'the limits in the message and in `details`. A Redis at `maxmemory` is a 503',
          '`RNNLM_REDIS_OUT_OF_MEMORY`.',
        ].join(' '),
        headers: submitHeadersSchema,
        documentedBody: submitBodyContent,
        response: {
          200: json(jobSchema, 'The job already submitted with this `Idempotency-Key`.', jobLocation),
          202: json(jobSchema, 'Queued.', jobLocation),
          400: errorResponses.badRequest,
          401: errorResponses.unauthorized,
          409: errorResponses.idempotencyKeyInUse,
          413: errorResponses.tooLarge,
          415: errorResponses.unsupportedMediaType,
          422: errorResponses.idempotencyKeyReused,
          503: errorResponses.unavailable,
          507: errorResponses.diskFull,
        },
      },
    },
    async (request, reply) => {
      let input: SubmitInput;
      if (request.isMultipart()) {
        input = await readMultipart(request, settings, limitsSchema);
      } else {
        const body = parseRequest(submitBodySchema, request.body, 'body');
        parseRequest(limitsSchema, body, 'body');
        input = body;
      }
      const bytes = byteLength(input.corpus) + byteLength(input.validation);
      if (bytes > settings.maxCorpusBytes)
        throw errors.corpusTooLarge('corpus', bytes, settings.maxCorpusBytes);
      const { job, created } = await jobs.submit(input, request.headers['idempotency-key']);
      request.log.info(
        { jobId: job.id, created },
        created ? 'job submitted' : 'job found by idempotency key',
      );
      return reply
        .code(created ? 202 : 200)
        .header('location', `/jobs/${job.id}`)
        .send(job);
    },
  );

  app.get(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        operationId: 'listJobs',
        summary: 'List jobs, newest first',
        querystring: listJobsQuerySchema,
        response: {
          200: json(jobListSchema, 'One page of jobs.'),
          400: errorResponses.badRequest,
          401: errorResponses.unauthorized,
          503: errorResponses.unavailable,
        },
      },
    },
    async (request) => jobs.list(request.query),
  );

  app.get(
    '/jobs/:id',
    {
      schema: {
        tags: ['jobs'],
        operationId: 'getJob',
        summary: "A job's status, progress and metrics",
        params: jobParamsSchema,
        response: {
          200: json(jobSchema, 'The job.'),
          400: errorResponses.badRequest,
          401: errorResponses.unauthorized,
          404: errorResponses.notFound,
          503: errorResponses.unavailable,
        },
      },
    },
    async (request) => {
      const job = await jobs.get(request.params.id);
      if (job === undefined) throw errors.jobNotFound(request.params.id);
      return job;
    },
  );

  app.post(
    '/jobs/:id/cancel',
    {
      schema: {
        tags: ['jobs'],
        operationId: 'cancelJob',
        summary: 'Cancel a job',
        description: [
          'A queued job is removed and ends `cancelled`; a running job is told (through Redis) to',
          'stop at its next step and then ends `cancelled`, never retried. A finished job is a',
          '409 `RNNLM_JOB_FINISHED` naming its status, and stays as it is.',
        ].join(' '),
        params: jobParamsSchema,
        response: {
          202: json(jobSchema, 'Cancellation accepted; the job as it is now.'),
          400: errorResponses.badRequest,
          401: errorResponses.unauthorized,
          404: errorResponses.notFound,
          409: errorResponses.jobFinished,
          503: errorResponses.unavailable,
        },
      },
    },
    async (request, reply) => {
      const job = await jobs.cancel(request.params.id);
      if (job === undefined) throw errors.jobNotFound(request.params.id);
      request.log.info({ jobId: job.id, status: job.status }, 'job cancel requested');
      return reply.code(202).send(job);
    },
  );

  app.get(
    '/jobs/:id/events',
    {
      // A HEAD would open a stream that never sends its body.
      exposeHeadRoute: false,
      schema: {
        tags: ['jobs'],
        operationId: 'jobEvents',
        summary: "Follow a job's events",
        description: [
          'A `text/event-stream` of `progress`, `metrics`, `checkpoint`, `log` and `status` events;',
          "each has the `id:` of its place in the job's log. Reconnect with `Last-Event-ID` to",
          'resume after it. The stream ends after the final `status` event (status `succeeded`,',
          '`failed` or `cancelled`). Events are kept after the job ends; `?format=json` lists them.',
        ].join(' '),
        params: jobParamsSchema,
        querystring: eventsQuerySchema,
        headers: eventsHeadersSchema,
        response: {
          200: {
            description: 'The events, as a stream or (`format=json`) as a list.',
            content: {
              ...text(
                'text/event-stream',
                '',
                'Lines `id: <event id>`, `event: <type>`, `data: <JobEvent.data as JSON>`.',
              ).content,
              'application/json': { schema: jobEventListSchema },
            },
          },
          400: errorResponses.badRequest,
          401: errorResponses.unauthorized,
          404: errorResponses.notFound,
          503: errorResponses.unavailable,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const job = await jobs.get(id);
      if (job === undefined) throw errors.jobNotFound(id);
      const after = request.headers['last-event-id'];
      if (request.query.format === 'json') {
        const items: JobEvent[] = [];
        let cursor = after;
        for (;;) {
          const page = await jobs.events(id, cursor, EVENT_PAGE);
          items.push(...page);
          const last = page.at(-1);
          if (page.length < EVENT_PAGE || last === undefined) break;
          cursor = last.id;
        }
        return { items };
      }

      const stream = new SseStream(reply, settings.closing);
      const log = request.log.child({ jobId: id });
      let cursor = after;
      const forward = async (events: JobEvent[]): Promise<boolean> => {
        for (const event of events) {
          await stream.send({ id: event.id, event: event.type, data: event.data });
          cursor = event.id;
          if (event.type === 'status' && FINAL_STATUSES.has(event.data.status)) return true;
        }
        return false;
      };
      try {
        let finished = await forward(await jobs.events(id, cursor));
        // A job that had already ended has nothing more to come: the backlog was everything.
        if (FINAL_STATUSES.has(job.status)) finished = true;
        while (!finished && !stream.closed) {
          const events = await jobs.waitForEvents(id, cursor, settings.heartbeatMs, stream.signal);
          if (stream.closed) break;
          if (events.length > 0) {
            finished = await forward(events);
            continue;
          }
          // Nothing new: a finished job whose final event the client has already seen ends here.
          const current = await jobs.get(id);
          if (current === undefined || FINAL_STATUSES.has(current.status)) {
            finished = await forward(await jobs.events(id, cursor));
            break;
          }
          await stream.heartbeat();
        }
      } catch (err) {
        if (!stream.closed) {
          log.warn({ err }, 'event stream failed');
          await stream.send({ event: 'error', data: toErrorBody(err) });
        }
      } finally {
        stream.end();
      }
      return reply;
    },
  );
};
