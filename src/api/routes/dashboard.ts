import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import { serializerCompiler } from 'fastify-type-provider-zod';

import { errorSchema, text } from '../schemas/common.js';

/**
 * Where `npm run build` (scripts/build-web.mjs) puts the dashboard: dist/web at the package
 * root, three levels above both src/api/routes and dist/api/routes.
 */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../../dist/web', import.meta.url));

/** The dashboard's assets are served under this prefix; the page itself at `/`. */
export const DASHBOARD_ASSETS_PREFIX = '/dashboard/';

/** The routes anyone may load without an API key: they hold no data, only the page's code. */
export const DASHBOARD_PUBLIC_ROUTES = ['/', `${DASHBOARD_ASSETS_PREFIX}*`] as const;

export interface DashboardRoutesOptions {
  /** The built dashboard. @defaultValue {@link DASHBOARD_DIR} */
  dir?: string | undefined;
}

const NOT_BUILT = 'The dashboard is not built: run `npm run build` (it writes dist/web), then reload.\n';

/**
 * `GET /` serves the dashboard page and `GET /dashboard/*` its scripts and styles, from
 * dist/web. The page is read on each request (it is small), so a build made while the server
 * runs is picked up, and a missing build is a 503 that says how to make one rather than a crash.
 */
export const dashboardRoutes: FastifyPluginAsync<DashboardRoutesOptions> = async (app, options) => {
  const dir = options.dir ?? DASHBOARD_DIR;
  // Its response schemas are zod, like every route's, also where it is registered alone.
  app.setSerializerCompiler(serializerCompiler);
  await app.register(fastifyStatic, {
    root: dir,
    prefix: DASHBOARD_ASSETS_PREFIX,
    // The page is read by the route below; this plugin serves only the bundle's files.
    index: false,
    decorateReply: false,
    // A missing build is reported by `GET /`, not logged as a warning at every start.
    suppressWarning: true,
    // The bundle keeps its file names from build to build: browsers revalidate (ETag) each load.
    cacheControl: true,
    maxAge: 0,
  });

  const schema = {
    tags: ['service'],
    operationId: 'dashboard',
    security: [],
    summary: 'The dashboard (a single page served locally; its assets are under /dashboard/)',
    description: [
      'The page and its scripts and styles (`GET /dashboard/{file}`) hold no data and need no',
      "key; the page asks for the API key once, keeps it in the tab's sessionStorage and sends",
      'it as `Authorization: Bearer <key>` on every call it makes to the operations here.',
    ].join(' '),
    response: {
      200: text('text/html', 'The dashboard page.'),
      503: {
        description:
          'The dashboard was not built (`npm run build` builds it into dist/web), or the server is overloaded.',
        content: {
          ...text('text/plain', '').content,
          'application/json': { schema: errorSchema },
        },
      },
    },
  };
  app.get('/', { schema }, async (_request, reply) => {
    let page: string;
    try {
      page = await readFile(`${dir}/index.html`, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      return reply.code(503).type('text/plain; charset=utf-8').send(NOT_BUILT);
    }
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(page);
  });
};
