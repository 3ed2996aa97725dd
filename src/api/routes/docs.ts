import { fileURLToPath } from 'node:url';

import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';

import { swaggerOptions } from '../openapi.js';
import { errorResponses, text } from '../schemas/common.js';

/**
 * openapi.yaml at the package root (src/api/routes and dist/api/routes are both three levels
 * below it): the generated document, committed (`npm run openapi` writes it).
 */
export const OPENAPI_PATH = fileURLToPath(new URL('../../../openapi.yaml', import.meta.url));

/**
 * Collects the routes for the OpenAPI document. Registered before any route, without
 * encapsulation, so that it sees all of them.
 */
export const openapiCollector = fp(
  async (app) => {
    await app.register(swagger, swaggerOptions());
  },
  { name: 'rnnlm-openapi', fastify: '5.x' },
);

/** `GET /openapi.yaml` serves the document generated from the routes; `GET /docs` is Swagger UI over it, served locally. */
export const docsRoutes: FastifyPluginAsync = async (app) => {
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // Its own CSP (allowing the page's inline script and styles by hash) replaces helmet's on
    // /docs; without `upgrade-insecure-requests`, which would break the page over plain HTTP.
    staticCSP: true,
    transformStaticCSP: (header) => header.replace(/\s*upgrade-insecure-requests;?/, ''),
  });

  const schema = {
    tags: ['service'],
    operationId: 'openapi',
    summary: 'This document',
    response: {
      200: text('application/yaml', 'The OpenAPI document.'),
      401: errorResponses.unauthorized,
      503: errorResponses.unavailable,
    },
  };
  app.get('/openapi.yaml', { schema }, async (_request, reply) =>
    reply.type('application/yaml; charset=utf-8').send(app.swagger({ yaml: true })),
  );
};
