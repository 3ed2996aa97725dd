import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyPluginAsync } from 'fastify';

/** openapi.yaml at the package root (src/api/routes and dist/api/routes are both three levels below it). */
export const OPENAPI_PATH = fileURLToPath(new URL('../../../openapi.yaml', import.meta.url));

/** `GET /openapi.yaml` serves the contract as written; `GET /docs` is Swagger UI over it, served locally. */
export const docsRoutes: FastifyPluginAsync = async (app) => {
  const yaml = await readFile(OPENAPI_PATH, 'utf8');

  await app.register(swagger, { mode: 'static', specification: { path: OPENAPI_PATH, baseDir: '' } });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // Its own CSP (allowing the page's inline script and styles by hash) replaces helmet's on
    // /docs; without `upgrade-insecure-requests`, which would break the page over plain HTTP.
    staticCSP: true,
    transformStaticCSP: (header) => header.replace(/\s*upgrade-insecure-requests;?/, ''),
  });

  app.get('/openapi.yaml', async (_request, reply) =>
    reply.type('application/yaml; charset=utf-8').send(yaml),
  );
};
