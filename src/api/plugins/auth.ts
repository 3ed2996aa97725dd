import { createHash, timingSafeEqual } from 'node:crypto';

import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

import { errors } from '../../errors.js';

/** Options of {@link apiKeyAuth}. */
export interface ApiKeyAuthOptions {
  /** The accepted keys; an empty list turns authentication off. */
  keys: readonly string[];
  /**
   * Route paths (as registered, `/healthz`) that answer without a key: the app names them
   * (the probes, the dashboard's page and assets), so this plugin knows no route.
   */
  publicRoutes: readonly string[];
}

const sha256 = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** Who made a request, for rate limits: the key it authenticated with, or its address. */
const clients = new WeakMap<FastifyRequest, string>();

/**
 * The rate-limit identity of a request: `key:<first 16 hex of its sha256>` when it passed
 * authentication with a key, else `ip:<address>`. A key is only trusted once it was checked,
 * so with authentication off a client cannot dodge its limit by inventing keys.
 */
export function clientId(request: FastifyRequest): string {
  return clients.get(request) ?? `ip:${request.ip}`;
}

/** `Authorization: Bearer <token>` → the token; anything else → undefined. */
function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return match?.[1];
}

/**
 * Optional API keys. With keys configured, every route but the public ones (the probes) needs
 * `Authorization: Bearer <key>`; a missing or wrong key is a 401 `RNNLM_UNAUTHORIZED` with
 * `WWW-Authenticate: Bearer`. Unknown routes are refused too, so they tell nothing. Keys are
 * compared as sha256 digests with `timingSafeEqual`, against every key, so the time taken
 * depends neither on the key's length nor on how much of it matched nor on which key it was.
 */
export const apiKeyAuth = fp<ApiKeyAuthOptions>(
  (app, options, done) => {
    const digests = options.keys.map(sha256);
    if (digests.length === 0) {
      done();
      return;
    }
    const publicRoutes = new Set(options.publicRoutes);
    app.addHook('onRequest', async (request, reply) => {
      const route = request.routeOptions.url;
      if (route !== undefined && publicRoutes.has(route)) return;
      const token = bearerToken(request.headers.authorization);
      const given = sha256(token ?? '');
      let matched = -1;
      digests.forEach((digest, index) => {
        // No early exit: every key is compared whatever matched before.
        if (timingSafeEqual(digest, given) && matched < 0) matched = index;
      });
      if (token === undefined || matched < 0) {
        reply.header('www-authenticate', 'Bearer');
        throw token === undefined ? errors.apiKeyMissing() : errors.apiKeyInvalid();
      }
      clients.set(request, `key:${given.toString('hex').slice(0, 16)}`);
    });
    done();
  },
  { name: 'rnnlm-api-key-auth', fastify: '5.x' },
);
