import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { HTTPStatus } from '@bull-board/api/dist/types.js';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyPluginAsync } from 'fastify';

import type { TrainingQueue } from '../../queue/training-queue.js';
import { EXPECTED_5XX, toErrorBody } from '../errors.js';

/** Where the queue board lives; its page, assets and JSON API are all below it. */
export const QUEUE_BOARD_PATH = '/admin/queues';

/**
 * Helmet's policy without its `https:` sources for styles and fonts: the page's scripts and
 * styles are local files (its inline styles stay allowed), and the Google Fonts stylesheet it
 * links is refused, so an admin page makes no request to a third party (system fonts serve).
 */
export const QUEUE_BOARD_CSP = [
  "default-src 'self'",
  "base-uri 'self'",
  "font-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self' 'unsafe-inline'",
].join(';');

/**
 * Bull Board over the training queue at `/admin/queues`. It is read-only: jobs are cancelled
 * through the API, which keeps the service's own records and event streams in step with BullMQ;
 * retrying, removing or adding jobs behind its back would not. The API key guards it like
 * every other route.
 */
export const queueBoardRoutes: FastifyPluginAsync<{ queue: TrainingQueue }> = async (app, { queue }) => {
  const board = new FastifyAdapter();
  board.setBasePath(QUEUE_BOARD_PATH);
  createBullBoard({
    queues: [new BullMQAdapter(queue, { readOnlyMode: true, description: 'training jobs' })],
    serverAdapter: board,
    options: { uiConfig: { boardTitle: 'rnnlm queues' } },
  });
  // The board sets this as the error handler of its routes: a refusal (the API key's 401, a
  // 503 under load) keeps the API's error body instead of the board's own.
  board.setErrorHandler((err) => {
    const body = toErrorBody(err);
    if (body.statusCode >= 500 && !EXPECTED_5XX.has(body.code)) app.log.error({ err }, 'queue board failed');
    // The adapter sends any status; the type lists only the ones the board itself uses.
    return { status: body.statusCode as HTTPStatus, body: { ...body } };
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.header('content-security-policy', QUEUE_BOARD_CSP);
    done(null, payload);
  });
  await app.register(board.registerPlugin(), { prefix: QUEUE_BOARD_PATH });
};
