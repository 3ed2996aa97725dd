import type { FastifyInstance } from 'fastify';

import type { Config } from '../config.js';

/**
 * Process concerns of the API, apart from the app itself: where it listens and how it stops.
 * src/main.ts builds the app with `buildApp`, then calls these in its start-up and its ordered
 * shutdown.
 */

/** Listens on HOST:PORT and returns the address it listens on (`http://127.0.0.1:3000`). */
export async function listen(app: FastifyInstance, config: Pick<Config, 'HOST' | 'PORT'>): Promise<string> {
  return app.listen({ host: config.HOST, port: config.PORT });
}

/**
 * Stops taking requests and closes the app (event streams are ended by its `preClose` hook);
 * gives up waiting after `timeoutMs` so a stuck request cannot hold the process forever.
 * Resolves `false` on timeout. Safe to call more than once.
 */
export async function closeServer(app: FastifyInstance, timeoutMs = 10_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([app.close().then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
