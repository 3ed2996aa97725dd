import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import type { RouteOptions } from 'fastify';
import { parse } from 'yaml';
import { z } from 'zod';

import { generateOpenApiYaml } from '../../../src/api/openapi-generate.js';
import { OPENAPI_PATH } from '../../../src/api/routes/docs.js';
import { submitBodySchema } from '../../../src/api/schemas/jobs.js';
import {
  build,
  compileOpenApiSchema,
  openapi,
  operationParameters,
  operationResponse,
  schemaObject,
} from '../../helpers/app.js';

interface RegisteredRoute {
  method: string;
  /** OpenAPI style: `/jobs/{id}`. */
  path: string;
  schema: RouteOptions['schema'];
}

/**
 * Swagger UI's own assets under /docs/, the dashboard's under /dashboard/ and Bull Board's
 * pages, assets and JSON API under /admin/queues/ are not part of the API.
 */
const isDocsAsset = (url: string) =>
  url.startsWith('/docs/') || url.startsWith('/dashboard/') || url.startsWith('/admin/queues/');

async function registeredRoutes(t: Parameters<typeof build>[0]): Promise<RegisteredRoute[]> {
  const routes: RegisteredRoute[] = [];
  await build(t, {
    configure: (app) =>
      app.addHook('onRoute', (route) => {
        if (isDocsAsset(route.url)) return;
        const methods = Array.isArray(route.method) ? route.method : [route.method];
        for (const method of methods) {
          if (method === 'HEAD') continue; // Fastify adds HEAD to every GET.
          routes.push({ method, path: route.url.replace(/:(\w+)/g, '{$1}'), schema: route.schema });
        }
      }),
  });
  return routes;
}

function zodKeys(schema: unknown): string[] {
  if (schema === undefined) return [];
  assert.ok(schema instanceof z.ZodObject, 'route schemas are zod objects');
  return Object.keys(schema.shape);
}

const sorted = (xs: Iterable<string>) => [...xs].sort();

test('every registered route is in openapi.yaml and every documented route is registered', async (t) => {
  const routes = await registeredRoutes(t);
  assert.ok(routes.length >= 15, `only ${routes.length} routes collected`);
  const registered = new Set(routes.map((r) => `${r.method} ${r.path}`));
  const documented = new Set(
    Object.entries(openapi.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    ),
  );
  assert.deepEqual(
    sorted([...registered].filter((r) => !documented.has(r))),
    [],
    'routes missing from openapi.yaml',
  );
  assert.deepEqual(
    sorted([...documented].filter((r) => !registered.has(r))),
    [],
    'routes documented but not registered',
  );
});

test('every path, query and header parameter of every route is documented, and no other', async (t) => {
  for (const route of await registeredRoutes(t)) {
    const op = openapi.paths[route.path]?.[route.method.toLowerCase()];
    assert.ok(op !== undefined);
    const params = operationParameters(op);
    const documented = (where: 'path' | 'query' | 'header') =>
      sorted(
        params
          .filter((p) => p.in === where)
          // Header names are case-insensitive; Fastify's header schemas use lower case.
          .map((p) => (where === 'header' ? p.name.toLowerCase() : p.name)),
      );
    const name = `${route.method} ${route.path}`;
    const pathParams = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);
    assert.deepEqual(documented('path'), sorted(pathParams), `${name}: path parameters`);
    assert.deepEqual(sorted(zodKeys(route.schema?.params)), sorted(pathParams), `${name}: params schema`);
    assert.deepEqual(documented('query'), sorted(zodKeys(route.schema?.querystring)), `${name}: query`);
    assert.deepEqual(documented('header'), sorted(zodKeys(route.schema?.headers)), `${name}: headers`);
    for (const p of params.filter((p) => p.in === 'path'))
      assert.equal(p.required, true, `${name}: ${p.name}`);
  }
});

test('request bodies in openapi.yaml have the fields the schemas accept', async (t) => {
  const routes = await registeredRoutes(t);
  const bodies = routes
    .filter((r) => r.schema?.body !== undefined)
    .map((r) => ({ name: `${r.method} ${r.path}`, keys: zodKeys(r.schema?.body) }));
  // POST /jobs parses its body itself (JSON or multipart), with submitBodySchema.
  bodies.push({ name: 'POST /jobs', keys: Object.keys(submitBodySchema.shape) });
  assert.equal(bodies.length, 4);
  for (const { name, keys } of bodies) {
    const [method, path] = name.split(' ') as [string, string];
    const op = openapi.paths[path]?.[method.toLowerCase()];
    const media = op?.requestBody?.content['application/json'];
    assert.ok(media !== undefined, `${name}: no application/json request body documented`);
    const documented = Object.keys(schemaObject(media.schema).properties ?? {});
    assert.deepEqual(sorted(documented), sorted(keys), `${name}: body fields`);
  }
});

test('every status a route declares is documented, and every component schema compiles', async (t) => {
  for (const route of await registeredRoutes(t)) {
    const op = openapi.paths[route.path]?.[route.method.toLowerCase()];
    assert.ok(op !== undefined);
    const response = (route.schema?.response ?? {}) as Record<string, unknown>;
    for (const status of Object.keys(response)) {
      assert.ok(
        operationResponse(op, status) !== undefined,
        `${route.method} ${route.path}: ${status} not documented`,
      );
    }
  }
  for (const [name, schema] of Object.entries(openapi.components.schemas)) {
    assert.doesNotThrow(() => compileOpenApiSchema(schema, `component ${name}`), name);
  }
});

test('the committed openapi.yaml is the document the routes generate (run `npm run openapi` when this fails)', async () => {
  const generated = await generateOpenApiYaml();
  assert.ok(generated.includes('/jobs/{id}/events:'), 'the generated document has the routes');
  assert.equal(readFileSync(OPENAPI_PATH, 'utf8'), generated);
});

test('GET /openapi.yaml serves the generated document and GET /docs serves Swagger UI from this server', async (t) => {
  const { app } = await build(t);
  const res = await app.inject({ method: 'GET', url: '/openapi.yaml' });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^application\/yaml/);
  assert.equal(res.body, readFileSync(OPENAPI_PATH, 'utf8'));
  assert.deepEqual(parse(res.body), openapi);

  const page = await app.inject({ method: 'GET', url: '/docs' });
  assert.equal(page.statusCode, 200);
  assert.match(String(page.headers['content-type']), /^text\/html/);
  // Every script and stylesheet the page loads is a local path, not a CDN.
  const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
  assert.ok(assets.length > 0);
  for (const asset of assets) assert.doesNotMatch(asset, /^(https?:)?\/\//, asset);

  const spec = await app.inject({ method: 'GET', url: '/docs/json' });
  assert.equal(spec.statusCode, 200);
  assert.equal(spec.json<{ openapi: string }>().openapi, '3.1.0');
  const css = await app.inject({ method: 'GET', url: '/docs/static/swagger-ui.css' });
  assert.equal(css.statusCode, 200);
});
