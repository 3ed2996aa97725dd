import { STATUS_CODES } from 'node:http';

import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import type { z } from 'zod';

import {
  ERRORS,
  errors,
  isDiskFull,
  isRnnlmError,
  redactPaths,
  type ErrorCode,
  type RnnlmError,
} from '../errors.js';
import { isRedisUnavailable } from '../queue/redis-health.js';

/**
 * The one mapping from whatever a request handler throws to the HTTP error body
 * `{ statusCode, code, error, message }`. Codes come from the registry in src/errors.ts, so a
 * client can match on `code`; the message is shown for statuses below 500 only.
 */
export interface ErrorBody {
  statusCode: number;
  code: string;
  error: string;
  message: string;
  /** On a 400: each bad field by its path (`body.model.hiddenSize`), so a form can mark it. */
  fields?: FieldError[];
  /** RNNLM_MODEL_TOO_LARGE only: the estimate (parameters, training memory) and the limits. */
  details?: Record<string, unknown>;
}

/** One bad field of a 400: its path as in the message, and what is wrong with it. */
export interface FieldError {
  path: string;
  message: string;
}

/** Where a request value came from, as it prefixes a field path in a 400 message. */
export type RequestPart = 'body' | 'querystring' | 'params' | 'headers' | (string & {});

/**
 * What an error answer lists at most: a request with 200,000 unknown keys gets the first few
 * and a count, so the answer (and its log line) stays small whatever the request's size.
 */
export const MAX_LISTED_FIELDS = 20;
/** The longest field path or message an answer repeats (a key may be megabytes long). */
const MAX_FIELD_TEXT = 200;
/** The longest message an error answer carries. */
const MAX_MESSAGE = 4000;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The bad fields of one issue: `body.model.hiddenSize`, or each unknown key of an object. */
function issueFields(
  part: string,
  path: readonly PropertyKey[],
  message: string,
  keys?: unknown,
): FieldError[] {
  const at = clip([part, ...path.map(String)].join('.'), MAX_FIELD_TEXT);
  // An unknown key is reported on its parent object by zod: name the key itself instead.
  if (Array.isArray(keys) && keys.length > 0) {
    return keys.map((k) => ({
      path: clip(`${at}.${String(k)}`, MAX_FIELD_TEXT),
      message: 'Unrecognized key',
    }));
  }
  return [{ path: at, message: clip(message, MAX_FIELD_TEXT) }];
}

/**
 * `body.model.hiddenSize: Too big: expected number to be <=2048; body.name: ...`, the first
 * {@link MAX_LISTED_FIELDS} of them and how many more there are.
 */
function describeFields(fields: readonly FieldError[]): string {
  const listed = fields.slice(0, MAX_LISTED_FIELDS).map((f) => `${f.path}: ${f.message}`);
  const more = fields.length - listed.length;
  return listed.join('; ') + (more > 0 ? `; and ${more} more` : '');
}

function zodIssueFields(part: RequestPart, issues: readonly z.core.$ZodIssue[]): FieldError[] {
  return issues.flatMap((issue) =>
    issueFields(part, issue.path, issue.message, issue.code === 'unrecognized_keys' ? issue.keys : undefined),
  );
}

/** `body.training.hiddenSize: Too big: expected number to be <=4096; body.name: ...` */
export function describeIssues(part: RequestPart, issues: readonly z.core.$ZodIssue[]): string {
  return describeFields(zodIssueFields(part, issues));
}

/** A 400 naming every bad field of one request part. */
export function invalidRequest(part: RequestPart, error: z.ZodError): RnnlmError {
  const first = error.issues[0];
  return errors.invalidFields(
    describeIssues(part, error.issues),
    first === undefined ? part : [part, ...first.path.map(String)].join('.'),
    zodIssueFields(part, error.issues),
  );
}

/** Parses `value` with `schema` or throws the 400 that names the bad fields. */
export function parseRequest<S extends z.ZodType>(schema: S, value: unknown, part: RequestPart): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalidRequest(part, result.error);
  return result.data;
}

/** Fastify's own error codes, mapped to ours. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'RNNLM_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'RNNLM_INVALID_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'RNNLM_INVALID_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'RNNLM_INVALID_REQUEST',
  FST_ERR_CTP_BODY_TOO_LARGE: 'RNNLM_PAYLOAD_TOO_LARGE',
  FST_ERR_VALIDATION: 'RNNLM_INVALID_REQUEST',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'RNNLM_UNSUPPORTED_MEDIA_TYPE',
  FST_PARTS_LIMIT: 'RNNLM_INVALID_REQUEST',
  FST_FILES_LIMIT: 'RNNLM_INVALID_REQUEST',
  FST_FIELDS_LIMIT: 'RNNLM_INVALID_REQUEST',
  FST_PROTO_VIOLATION: 'RNNLM_INVALID_REQUEST',
  FST_REQ_FILE_TOO_LARGE: 'RNNLM_CORPUS_TOO_LARGE',
};

export { isRedisUnavailable } from '../queue/redis-health.js';

const REDIS_OOM = /^OOM /;

/**
 * Redis refusing a write at `maxmemory` (policy `noeviction`): the reply itself, or a
 * transaction (MULTI/EXEC) that Redis discarded because a queued write got that reply.
 */
export function isRedisOutOfMemory(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (REDIS_OOM.test(err.message)) return true;
  const previous = (err as { previousErrors?: unknown }).previousErrors;
  return Array.isArray(previous) && previous.some((e) => e instanceof Error && REDIS_OOM.test(e.message));
}

/** 5xx answers that are the service working as designed, not failures to log at error level. */
export const EXPECTED_5XX: ReadonlySet<string> = new Set([
  'RNNLM_OVERLOADED',
  'RNNLM_REDIS_UNAVAILABLE',
  'RNNLM_SHUTTING_DOWN',
]);

/** Codes whose `details` the error body carries: facts the client needs to fix its request. */
const PUBLIC_DETAILS: ReadonlySet<ErrorCode> = new Set(['RNNLM_MODEL_TOO_LARGE']);

function statusText(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}

/** What a 5xx may say: fixed texts that tell the client what to do and leak nothing. */
const SERVER_MESSAGES: Partial<Record<string, string>> = {
  RNNLM_REDIS_UNAVAILABLE: 'The job store (Redis) is unavailable; try again later',
  RNNLM_BACKEND_UNAVAILABLE: 'The compute backend is unavailable; try again later',
  RNNLM_NATIVE_UNAVAILABLE: 'The native compute kernels are unavailable on this server',
  RNNLM_OVERLOADED: 'The server is overloaded; retry after the time in Retry-After',
  RNNLM_SHUTTING_DOWN: 'The server is shutting down; retry after the time in Retry-After',
  RNNLM_REDIS_OUT_OF_MEMORY: 'The job store (Redis) is out of memory; try again later',
  RNNLM_DISK_FULL: 'The server is out of disk space; try again later',
};

function body(status: number, code: string, message: string, fields?: FieldError[]): ErrorBody {
  // A message may quote a file's path (a corrupt model): the client gets the file's name only.
  // An unknown route's message quotes the client's own URL, which it may see whole.
  const shown = code === 'RNNLM_ROUTE_NOT_FOUND' ? message : redactPaths(message);
  return {
    statusCode: status,
    code,
    error: statusText(status),
    message: status < 500 ? clip(shown, MAX_MESSAGE) : (SERVER_MESSAGES[code] ?? statusText(status)),
    ...(status === 400 && fields !== undefined && fields.length > 0
      ? { fields: fields.slice(0, MAX_LISTED_FIELDS).map((f) => ({ ...f, message: redactPaths(f.message) })) }
      : {}),
  };
}

function isFieldErrorList(value: unknown): value is FieldError[] {
  return (
    Array.isArray(value) &&
    value.every(
      (f) =>
        typeof f === 'object' &&
        f !== null &&
        typeof (f as FieldError).path === 'string' &&
        typeof (f as FieldError).message === 'string',
    )
  );
}

/** What the error handler knows of the request, for messages that depend on it. */
export interface ErrorContext {
  url?: string | undefined;
  contentType?: string | undefined;
  /** Tells where a field a service names (`training.seqLength`) sits in the request. */
  method?: string | undefined;
}

const REQUEST_PARTS = ['body', 'querystring', 'params', 'headers'];

/**
 * A field as a 400 names it: by its place in the request (`body.training.seqLength`,
 * `body.config.training.seqLength` in a multipart upload, `querystring.temperature`), whether
 * the route's schema found it or a service did, which names it within the content.
 */
function requestPath(field: string, context: ErrorContext): string {
  if (REQUEST_PARTS.some((part) => field === part || field.startsWith(`${part}.`))) return field;
  if (context.method === 'GET') return `querystring.${field}`;
  const multipart = context.contentType?.startsWith('multipart/') === true;
  // In a multipart upload the settings are the JSON field `config`; the texts are files.
  if (multipart && !/^(corpus|validation)(\.|$)/.test(field)) return `body.config.${field}`;
  return `body.${field}`;
}

/** A 400 for a request refused for its content: one code, whether a schema or a service refused it. */
const CONTENT_CODES: ReadonlySet<string> = new Set(['RNNLM_INVALID_CONFIG', 'RNNLM_INVALID_REQUEST']);

/** Builds the response body for `err`; `context.url` tells a corpus upload from other bodies. */
export function toErrorBody(err: unknown, context: ErrorContext = {}): ErrorBody {
  if (isRnnlmError(err)) {
    const code = CONTENT_CODES.has(err.code) ? 'RNNLM_INVALID_REQUEST' : err.code;
    let fields: FieldError[] | undefined;
    if (err.statusCode === 400) {
      const listed = err.details?.fields;
      const field = err.details?.field;
      if (isFieldErrorList(listed)) {
        fields = listed.map((f) => ({ path: requestPath(f.path, context), message: f.message }));
      } else if (typeof field === 'string') {
        // Services often start their message with the field; the path says it once.
        const message = err.message.startsWith(`${field}: `)
          ? err.message.slice(field.length + 2)
          : err.message;
        fields = [{ path: requestPath(field, context), message }];
      } else {
        fields = [{ path: context.method === 'GET' ? 'querystring' : 'body', message: err.message }];
      }
    }
    const answer = body(
      err.statusCode,
      code,
      fields === undefined ? err.message : describeFields(fields),
      fields,
    );
    return PUBLIC_DETAILS.has(err.code) && err.details !== undefined
      ? { ...answer, details: err.details }
      : answer;
  }
  if (hasZodFastifySchemaValidationErrors(err)) {
    const part = err.validationContext ?? 'request';
    const fields = err.validation.flatMap((v) => {
      const path = v.instancePath.split('/').filter((p) => p.length > 0);
      const keys = v.keyword === 'unrecognized_keys' ? v.params.keys : undefined;
      return issueFields(part, path, v.message ?? 'invalid', keys);
    });
    return body(400, 'RNNLM_INVALID_REQUEST', describeFields(fields), fields);
  }
  if (isRedisOutOfMemory(err)) {
    return body(503, 'RNNLM_REDIS_OUT_OF_MEMORY', '');
  }
  if (isRedisUnavailable(err)) {
    return body(503, 'RNNLM_REDIS_UNAVAILABLE', '');
  }
  if (isDiskFull(err)) {
    return body(507, 'RNNLM_DISK_FULL', '');
  }
  if (err instanceof Error) {
    const fastifyCode = (err as { code?: unknown }).code;
    let code = typeof fastifyCode === 'string' ? FASTIFY_CODES[fastifyCode] : undefined;
    if (code === 'RNNLM_PAYLOAD_TOO_LARGE' && context.url !== undefined && isJobsUrl(context.url)) {
      code = 'RNNLM_CORPUS_TOO_LARGE';
    }
    if (code === 'RNNLM_UNSUPPORTED_MEDIA_TYPE') {
      const accepted =
        context.url !== undefined && isJobsUrl(context.url)
          ? 'application/json or multipart/form-data'
          : 'application/json';
      const given =
        context.contentType === undefined ? 'no Content-Type' : `Content-Type ${context.contentType}`;
      return toErrorBody(errors.unsupportedMediaType(given, accepted), context);
    }
    const status = code !== undefined ? ERRORS[code].status : (err as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      // A 4xx some plugin raised without a code of ours is a refusal of the request's content.
      const answered = code ?? 'RNNLM_INVALID_REQUEST';
      if (status !== 400) return body(status, answered, err.message);
      const fields = [{ path: context.method === 'GET' ? 'querystring' : 'body', message: err.message }];
      return body(400, answered, describeFields(fields), fields);
    }
  }
  return body(500, 'RNNLM_INTERNAL', 'Internal Server Error');
}

/** OpenAI's error body (`{ error: { message, type, param, code } }`), which /v1 routes answer with. */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

/** Whether a URL is one of the OpenAI-compatible routes, which answer errors in OpenAI's shape. */
export function isOpenAiUrl(url: string): boolean {
  return url === '/v1' || url.startsWith('/v1/') || url.startsWith('/v1?');
}

/** OpenAI's error types, by status: what its clients read `type` for. */
function openAiType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 429) return 'rate_limit_error';
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

/**
 * The same refusal in OpenAI's shape: the message, a type by status, the field at fault as
 * `param` (`suffix`, `stream_options.include_usage`) and rnnlm's stable code as `code`.
 */
export function toOpenAiError(body: ErrorBody): OpenAiErrorBody {
  const path = body.fields?.[0]?.path.split('.').slice(1).join('.');
  return {
    error: {
      message: body.message,
      type: openAiType(body.statusCode),
      param: path === undefined || path === '' ? null : path,
      code: body.code,
    },
  };
}

function isJobsUrl(url: string): boolean {
  return url === '/jobs' || url.startsWith('/jobs?');
}
