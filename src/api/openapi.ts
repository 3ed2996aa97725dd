/**
 * The OpenAPI document, generated from the routes: `@fastify/swagger` (dynamic mode) collects
 * every route, `fastify-type-provider-zod` turns their zod schemas into JSON Schema, and the
 * hooks here add what a zod schema cannot say (response headers, a body the route parses
 * itself, the pages of plugins that are not ours) and name the shared schemas as components.
 * `npm run openapi` writes the result to openapi.yaml; a test fails when that file is stale.
 */
import type {
  FastifyDynamicSwaggerOptions,
  SwaggerTransform,
  SwaggerTransformObject,
} from '@fastify/swagger';
import { createJsonSchemaTransform, createJsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { isDeepStrictEqual } from 'node:util';
import type { z } from 'zod';

import { RNNLM_VERSION } from '../version.js';
import { errorResponses, text, type HeaderDoc } from './schemas/common.js';

declare module 'fastify' {
  interface FastifySchema {
    /**
     * The request body for the document only, by media type, for a route that reads its body
     * itself (`POST /jobs`: JSON or a multipart form): a `body` schema would be validated.
     */
    documentedBody?: Record<string, { schema: z.ZodType }>;
  }
}

const DESCRIPTION = [
  'Submit a corpus and training settings as a job; a worker trains the model and publishes it;',
  'the API then generates text from it and scores text under it.',
  '\n\n',
  'Every error answers with the `Error` body, whose `code` is stable: clients match on it;',
  "under `/v1` (OpenAI's completions API) errors are `OpenAIError`, the same code as `code`.",
  'Event streams (`text/event-stream`) send `id:`, `event:` and one `data:` line (JSON) per',
  "event, and `: heartbeat` comments while there is nothing to send (under `/v1`, OpenAI's",
  'data-only events ending with `data: [DONE]`).',
  '\n\n',
  '`saveState` keeps the recurrent state a generation or scoring ends in, in the Redis every',
  'API instance shares; `state` continues from it, reading only the new text (see `/states`).',
  '\n\n',
  'When the server is configured with API keys (`API_KEYS`), every operation but `/healthz`',
  'and `/readyz` needs `Authorization: Bearer <key>` (401 `RNNLM_UNAUTHORIZED` otherwise).',
  '`/generate`, `/score` and `/v1/completions` are rate-limited (one count) per client (its key, else its address), counted',
  'across all API instances (429 `RNNLM_RATE_LIMITED`); an overloaded server, or one with every',
  'generation slot taken, answers 503 `RNNLM_OVERLOADED`. Both carry `Retry-After`.',
]
  .join(' ')
  .replaceAll(' \n\n ', '\n\n');

/** What the document says beside its operations. */
const OPENAPI: NonNullable<FastifyDynamicSwaggerOptions['openapi']> = {
  openapi: '3.1.0',
  info: {
    title: 'rnnlm',
    version: RNNLM_VERSION,
    summary: 'Train recurrent language models on your own text and serve them.',
    description: DESCRIPTION,
    license: { name: 'MIT', identifier: 'MIT' },
  },
  // No `servers`: the document describes whatever host serves it (`/`).
  // The key is optional: a server without API_KEYS needs none (`{}`).
  security: [{ bearerAuth: [] }, {}],
  tags: [
    { name: 'jobs' },
    { name: 'models' },
    { name: 'inference' },
    { name: 'states', description: 'Recurrent states kept by requests (`saveState`), to continue from.' },
    {
      name: 'openai',
      description: "OpenAI's completions API, for OpenAI's clients; errors in OpenAI's shape.",
    },
    { name: 'service' },
  ],
  components: {
    securitySchemes: {
      bearerAuth: {
        type: 'http',
        scheme: 'bearer',
        description: "One of the keys in the server's `API_KEYS`; needed only when it has keys.",
      },
    },
  },
};

/**
 * Swagger UI's assets (under /docs/), the dashboard's (/dashboard/) and Bull Board's pages,
 * assets and JSON API (/admin/queues/) are not operations of this API.
 */
const ASSET_PREFIXES = ['/docs/', '/dashboard/', '/admin/queues/'];

/** Operations served by plugins that are not ours, documented here since we write no schema for them. */
const PLUGIN_OPERATIONS: Record<string, Record<string, unknown>> = {
  'GET /docs': {
    tags: ['service'],
    operationId: 'docs',
    summary: 'Swagger UI over this document (served locally)',
    response: {
      200: text('text/html', 'The Swagger UI page.'),
      401: errorResponses.unauthorized,
      503: errorResponses.unavailable,
    },
  },
  'GET /admin/queues': {
    tags: ['service'],
    operationId: 'queueBoard',
    summary: 'Bull Board over the training queue (read-only)',
    description: [
      "The board's page; its scripts, styles and JSON API (`/admin/queues/api/...`) lie below",
      "this path and are the board's own, not part of this API. It only reads: jobs are",
      'cancelled with `POST /jobs/{id}/cancel`. With API keys, the page, its assets and its',
      'JSON calls all need one.',
    ].join(' '),
    response: {
      200: text('text/html', "The board's page."),
      401: errorResponses.unauthorized,
      503: errorResponses.unavailable,
    },
  },
};

type Transform = SwaggerTransform;
type TransformInput = Parameters<Transform>[0];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * One route into its operation: hides the asset routes, documents the plugins' pages, converts
 * the zod schemas, then puts back the response headers and the documented body, which the zod
 * transform does not carry.
 */
const transformWith =
  (zodTransform: Transform): Transform =>
  (input: TransformInput) => {
    const { url, route } = input;
    const method = Array.isArray(route.method) ? String(route.method[0]) : String(route.method);
    // A plugin's page registered at its prefix reaches us with the trailing slash (`/docs/`).
    const plugin = PLUGIN_OPERATIONS[`${method} ${url.replace(/(.)\/$/, '$1')}`];
    if (plugin !== undefined)
      return convert(zodTransform, { ...input, schema: plugin }, url.replace(/(.)\/$/, '$1'));
    if (ASSET_PREFIXES.some((prefix) => url.startsWith(prefix)) || input.schema === undefined) {
      return { schema: { hide: true }, url };
    }
    return convert(zodTransform, input, url);
  };

/** Converts one route's zod schemas, restoring what the zod transform leaves out. */
function convert(zodTransform: Transform, input: TransformInput, url: string): ReturnType<Transform> {
  const schema = input.schema;
  const { documentedBody, ...rest } = schema as Record<string, unknown> & {
    documentedBody?: Record<string, { schema: z.ZodType }>;
  };
  const converted = zodTransform({ ...input, url, schema: rest }) as {
    schema: Record<string, unknown>;
    url: string;
  };
  const out = { ...converted.schema };
  const responses = rest.response;
  if (isRecord(responses) && isRecord(out.response)) {
    const withHeaders: Record<string, unknown> = { ...out.response };
    for (const [status, response] of Object.entries(responses)) {
      const headers = isRecord(response)
        ? (response.headers as Record<string, HeaderDoc> | undefined)
        : undefined;
      const documented = withHeaders[status];
      if (headers === undefined || !isRecord(documented)) continue;
      withHeaders[status] = {
        ...documented,
        headers: Object.fromEntries(
          Object.entries(headers).map(([name, h]) => [name, { ...h.schema, description: h.description }]),
        ),
      };
    }
    out.response = withHeaders;
  }
  if (documentedBody !== undefined) {
    // Converted as a body is (the schema as received), one media type at a time.
    const content = Object.fromEntries(
      Object.entries(documentedBody).map(([mediaType, { schema: body }]) => {
        const converted = zodTransform({ ...input, schema: { body } }) as {
          schema: { body: unknown };
        };
        return [mediaType, { schema: converted.schema.body }];
      }),
    );
    out.body = { content };
  }
  return { schema: out, url: converted.url };
}

type TransformObject = SwaggerTransformObject;

/** Every `#/components/schemas/<name>` reachable from `root`. */
function componentRefs(root: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(root)) {
    for (const item of root) componentRefs(item, found);
  } else if (isRecord(root)) {
    for (const [key, value] of Object.entries(root)) {
      if (key === '$ref' && typeof value === 'string' && value.startsWith('#/components/schemas/')) {
        found.add(value.slice('#/components/schemas/'.length));
      } else {
        componentRefs(value, found);
      }
    }
  }
  return found;
}

function renameRefs(root: unknown, names: ReadonlyMap<string, string>): unknown {
  if (Array.isArray(root)) return root.map((item) => renameRefs(item, names));
  if (!isRecord(root)) return root;
  return Object.fromEntries(
    Object.entries(root).map(([key, value]) => {
      if (key === '$ref' && typeof value === 'string' && value.startsWith('#/components/schemas/')) {
        const name = value.slice('#/components/schemas/'.length);
        return [key, `#/components/schemas/${names.get(name) ?? name}`];
      }
      return [key, renameRefs(value, names)];
    }),
  );
}

/**
 * The components the operations use, by plain names. The zod transform emits every registered
 * schema twice, as sent (`X`) and as received (`XInput`); this keeps the ones reachable from an
 * operation, names a received-only schema `X`, and keeps `XInput` apart only where it differs.
 */
function tidyComponents(document: Record<string, unknown>): Record<string, unknown> {
  const components = isRecord(document.components) ? document.components : {};
  const schemas = isRecord(components.schemas) ? components.schemas : {};
  const reachable = componentRefs(document.paths);
  for (let grew = true; grew;) {
    grew = false;
    for (const name of [...reachable]) {
      for (const ref of componentRefs(schemas[name])) {
        if (!reachable.has(ref)) {
          reachable.add(ref);
          grew = true;
        }
      }
    }
  }
  const names = new Map<string, string>();
  for (const name of reachable) {
    if (!name.endsWith('Input')) continue;
    const plain = name.slice(0, -'Input'.length);
    if (!reachable.has(plain)) names.set(name, plain);
  }
  // A received form that equals the sent one (once its references are renamed) is the same schema.
  for (const name of reachable) {
    if (!name.endsWith('Input') || names.has(name)) continue;
    const plain = name.slice(0, -'Input'.length);
    if (isDeepStrictEqual(renameRefs(schemas[name], names), renameRefs(schemas[plain], names))) {
      names.set(name, plain);
    }
  }
  const kept = Object.fromEntries(
    [...reachable]
      .filter((name) => !names.has(name) || !reachable.has(names.get(name) ?? ''))
      .map((name) => [names.get(name) ?? name, renameRefs(schemas[name], names)] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  return {
    ...(renameRefs(document, names) as Record<string, unknown>),
    components: { ...components, schemas: kept },
  };
}

/** Zod writes its safe-integer range on every integer; it says nothing a client needs. */
function dropSafeIntegerBounds(root: unknown): unknown {
  if (Array.isArray(root)) return root.map(dropSafeIntegerBounds);
  if (!isRecord(root)) return root;
  const out = Object.fromEntries(
    Object.entries(root).map(([key, value]) => [key, dropSafeIntegerBounds(value)]),
  );
  if (out.type === 'integer') {
    if (out.minimum === Number.MIN_SAFE_INTEGER) delete out.minimum;
    if (out.maximum === Number.MAX_SAFE_INTEGER) delete out.maximum;
  }
  return out;
}

/**
 * The options of `@fastify/swagger` that generate the document from the routes: new for each
 * app, as the zod transform caches the registered schemas it has seen.
 */
export function swaggerOptions(): FastifyDynamicSwaggerOptions {
  const zodTransformObject = createJsonSchemaTransformObject({});
  return {
    mode: 'dynamic',
    openapi: OPENAPI,
    transform: transformWith(createJsonSchemaTransform({ skipList: [] })),
    transformObject: (input: Parameters<TransformObject>[0]) =>
      dropSafeIntegerBounds(tidyComponents(zodTransformObject(input))) as ReturnType<TransformObject>,
  };
}
