import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, type TestContext } from 'node:test';

import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { parse } from 'yaml';

import { buildApp, type AppDeps } from '../../src/api/app.js';
import { OPENAPI_PATH } from '../../src/api/routes/docs.js';
import { dataDirs, loadConfig, type Config } from '../../src/config.js';
import { initBackend } from '../../src/ml/backend.js';
import type { RunConfigInput } from '../../src/ml/config.js';
import { trainFromText } from '../../src/ml/training.js';
import { RedisJobService } from '../../src/queue/job-service.js';
import { newModelId } from '../../src/ids.js';
import { writeModelDir } from '../../src/storage/artifacts.js';
import { InferenceService } from '../../src/inference/service.js';
import { SHAKESPEARE, tinyConfig } from './ml.js';

export const REDIS_URL = 'redis://127.0.0.1:6379';

export interface BuildOptions {
  /** Environment settings on top of the test defaults (a small corpus limit, ...). */
  env?: Record<string, string> | undefined;
  heartbeatSeconds?: number | undefined;
  configure?: AppDeps['configure'];
  /** Aborted, the app drains as for a shutdown (see AppDeps.draining). */
  draining?: AbortSignal | undefined;
  /** Skip waiting for Redis (the Redis-down tests point at a closed port). */
  expectRedisDown?: boolean | undefined;
  /**
   * The Redis key prefix; by default a fresh one per app. Two apps given the same prefix share
   * their Redis state, as two API instances of one deployment do.
   */
  prefix?: string | undefined;
}

export interface TestApp {
  app: FastifyInstance;
  config: Config;
  jobs: RedisJobService;
  models: InferenceService;
  dataDir: string;
  modelsDir: string;
}

/** Deletes every key under `prefix` (the BullMQ queue and the service's own keys). */
async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** A Redis key prefix of its own for one test (or for the apps of one test that share it). */
export function newTestPrefix(): string {
  return `rnnlm-test-${randomUUID().slice(0, 12)}`;
}

/**
 * Builds the API on the real job service and model store, against the local Redis with a
 * queue prefix of its own and a temporary data directory; all of it is removed after `t`.
 */
export async function build(t: TestContext, options: BuildOptions = {}): Promise<TestApp> {
  const prefix = options.prefix ?? newTestPrefix();
  const dataDir = await mkdtemp(join(tmpdir(), 'rnnlm-api-'));
  const config = loadConfig({
    REDIS_URL,
    RNNLM_QUEUE_PREFIX: prefix,
    RNNLM_DATA_DIR: dataDir,
    RNNLM_LOG_LEVEL: 'silent',
    RNNLM_BACKEND: 'wasm',
    // The event-loop overload guard is off by default: in-process training in a test blocks
    // the loop for seconds and would turn the next requests into 503s. Tests of it set it.
    RNNLM_MAX_EVENT_LOOP_DELAY_MS: '0',
    ...options.env,
  });
  const logger = pino({ level: 'silent' });
  const jobs = new RedisJobService({ config, logger });
  const modelsDir = dataDirs(config).models;
  await mkdir(modelsDir, { recursive: true });
  const models = new InferenceService({ dir: modelsDir, config, logger });
  const built: { app?: FastifyInstance } = {};
  t.after(async () => {
    await built.app?.close();
    await jobs.close();
    await models.close();
    if (options.expectRedisDown !== true) await deleteKeys(config.REDIS_URL, prefix);
    await rm(dataDir, { recursive: true, force: true });
  });
  if (options.expectRedisDown !== true) await jobs.ready(5000);
  const app = await buildApp({
    config,
    jobs,
    models,
    logger,
    heartbeatSeconds: options.heartbeatSeconds,
    configure: options.configure,
    draining: options.draining,
  });
  built.app = app;
  return { app, config, jobs, models, dataDir, modelsDir };
}

/** A TCP port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  return address.port;
}

/**
 * Trains a tiny char model (or, with `model`, one of another size) in-process for three steps
 * and publishes it into `modelsDir`; returns its id.
 */
export async function publishTinyModel(
  modelsDir: string,
  name = 'tiny',
  model: RunConfigInput['model'] = {},
): Promise<string> {
  const backend = await initBackend('wasm');
  const { artifacts } = await trainFromText({
    corpus: SHAKESPEARE.slice(0, 4000),
    validationFraction: 0.1,
    config: tinyConfig({ maxSteps: 3, evalEvery: 3 }, model),
    backend,
  });
  const id = newModelId();
  await writeModelDir(join(modelsDir, id), {
    ...artifacts,
    modelConfig: { ...artifacts.modelConfig },
    meta: { ...artifacts.meta, id, jobId: null, name },
  });
  return id;
}

/** A multipart/form-data body, built by hand so tests control every byte. */
export function multipart(
  parts: { name: string; value: string | Buffer; filename?: string; contentType?: string }[],
): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----rnnlm${randomUUID().replaceAll('-', '')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"`;
    if (part.filename !== undefined) head += `; filename="${part.filename}"`;
    head += '\r\n';
    if (part.contentType !== undefined) head += `Content-Type: ${part.contentType}\r\n`;
    chunks.push(Buffer.from(`${head}\r\n`), Buffer.from(part.value), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    payload: Buffer.concat(chunks),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

/** One event of a `text/event-stream` body. */
export interface ParsedSse {
  id: string | undefined;
  event: string | undefined;
  data: unknown;
}

/** Splits an event-stream body into its events; comment lines (heartbeats) are counted apart. */
export function parseSse(body: string): { events: ParsedSse[]; comments: string[] } {
  const events: ParsedSse[] = [];
  const comments: string[] = [];
  for (const block of body.split('\n\n')) {
    if (block.trim().length === 0) continue;
    let id: string | undefined;
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) comments.push(line.slice(1).trim());
      else if (line.startsWith('id: ')) id = line.slice(4);
      else if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length > 0) events.push({ id, event, data: JSON.parse(data.join('\n')) as unknown });
  }
  return { events, comments };
}

// ---------------------------------------------------------------------------------------------
// openapi.yaml: the document, and response validation against it.

/** The parts of an OpenAPI document the tests read. */
export interface OpenApiDoc {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: {
    schemas: Record<string, unknown>;
    parameters: Record<string, OpenApiParameter>;
    responses: Record<string, OpenApiResponse>;
  };
}
export interface OpenApiParameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  schema?: unknown;
}
export interface OpenApiResponse {
  description: string;
  content?: Record<string, { schema: unknown }>;
}
export interface OpenApiOperation {
  parameters?: (OpenApiParameter | { $ref: string })[];
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses: Record<string, OpenApiResponse | { $ref: string }>;
}

export const openapi = parse(readFileSync(OPENAPI_PATH, 'utf8')) as OpenApiDoc;

function deref<T>(value: T | { $ref: string }): T {
  if (typeof value === 'object' && value !== null && '$ref' in value) {
    const path = value.$ref.replace(/^#\//, '').split('/');
    let node: unknown = openapi;
    for (const key of path) node = (node as Record<string, unknown>)[key];
    assert.ok(node !== undefined, `unresolved $ref ${value.$ref}`);
    return node as T;
  }
  return value;
}

export function operationParameters(op: OpenApiOperation): OpenApiParameter[] {
  return (op.parameters ?? []).map((p) => deref(p));
}

export function operationResponse(op: OpenApiOperation, status: string): OpenApiResponse | undefined {
  const response = op.responses[status];
  return response === undefined ? undefined : deref(response);
}

/** Resolves a `$ref` to a component schema (one level), for reading its properties. */
export function schemaObject(schema: unknown): { properties?: Record<string, unknown>; required?: string[] } {
  return deref(schema as { properties?: Record<string, unknown>; required?: string[] } | { $ref: string });
}

const DOC_ID = 'https://rnnlm.invalid/openapi.yaml';
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: DOC_ID, components: openapi.components });

/** Points `#/components/...` references at the document registered with ajv. */
function absoluteRefs(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(absoluteRefs);
  if (typeof schema !== 'object' || schema === null) return schema;
  return Object.fromEntries(
    Object.entries(schema).map(([key, value]) => [
      key,
      key === '$ref' && typeof value === 'string' && value.startsWith('#/')
        ? `${DOC_ID}${value}`
        : absoluteRefs(value),
    ]),
  );
}

const validators = new Map<string, ValidateFunction>();

/** Compiles a schema taken from openapi.yaml (its references resolved against the document). */
export function compileOpenApiSchema(schema: unknown, key: string): ValidateFunction {
  let validate = validators.get(key);
  if (validate === undefined) {
    validate = ajv.compile(absoluteRefs(schema) as object);
    validators.set(key, validate);
  }
  return validate;
}

/**
 * Asserts that a response is one openapi.yaml declares for the operation `METHOD /path/{param}`:
 * its status is listed, and a JSON body validates against the declared schema.
 */
export function assertMatchesOpenApi(res: LightMyRequestResponse, operation: string): void {
  const [method, path] = operation.split(' ') as [string, string];
  const op = openapi.paths[path]?.[method.toLowerCase()];
  assert.ok(op !== undefined, `openapi.yaml has no ${operation}`);
  const status = String(res.statusCode);
  const response = operationResponse(op, status);
  assert.ok(
    response !== undefined,
    `openapi.yaml: ${operation} does not declare a ${status} (body: ${res.body})`,
  );
  if (response.content === undefined) {
    assert.equal(res.body, '', `${operation} ${status} declares no body`);
    return;
  }
  const type =
    String(res.headers['content-type'] ?? '')
      .split(';')[0]
      ?.trim() ?? '';
  const media = response.content[type];
  assert.ok(media !== undefined, `openapi.yaml: ${operation} ${status} does not declare ${type}`);
  if (type !== 'application/json') return;
  const validate = compileOpenApiSchema(media.schema, `${operation} ${status} ${type}`);
  const body: unknown = res.json();
  assert.ok(
    validate(body),
    `${operation} ${status}: body does not match openapi.yaml: ${ajv.errorsText(validate.errors)}\n${res.body}`,
  );
}

/**
 * Trains one tiny model for the calling test file (before its tests, removed after them) and
 * returns `withModel`, which builds an app whose store holds a copy of that model.
 */
export function useSharedTinyModel(): (
  t: TestContext,
  options?: BuildOptions,
) => Promise<TestApp & { id: string }> {
  let trainedIn: string | undefined;
  let trainedId: string | undefined;
  before(async () => {
    trainedIn = await mkdtemp(join(tmpdir(), 'rnnlm-model-'));
    trainedId = await publishTinyModel(trainedIn);
  });
  after(async () => {
    if (trainedIn !== undefined) await rm(trainedIn, { recursive: true, force: true });
  });
  return async (t, options = {}) => {
    const built = await build(t, options);
    assert.ok(trainedIn !== undefined && trainedId !== undefined);
    await cp(join(trainedIn, trainedId), join(built.modelsDir, trainedId), { recursive: true });
    return { ...built, id: trainedId };
  };
}
