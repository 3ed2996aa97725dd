import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { errorResponses, errorSchema, json } from '../schemas/common.js';
import {
  stateInfoSchema,
  stateListQuerySchema,
  stateListSchema,
  stateParamsSchema,
} from '../schemas/states.js';
import { errors } from '../../errors.js';
import type { StateHandles } from '../states.js';

export interface StatesRoutesOptions {
  states: StateHandles;
}

const notFound = json(errorSchema, 'No such state (`RNNLM_STATE_NOT_FOUND`): it expired or was deleted.');

const stateErrors = {
  400: errorResponses.badRequest,
  401: errorResponses.unauthorized,
  503: errorResponses.unavailable,
};

/** `/states`: the recurrent states requests kept (`saveState`), shared by every API instance. */
export const statesRoutes: FastifyPluginCallbackZod<StatesRoutesOptions> = (app, { states }, done) => {
  app.get(
    '/states',
    {
      schema: {
        tags: ['states'],
        operationId: 'listStates',
        summary: 'The kept recurrent states, newest first',
        querystring: stateListQuerySchema,
        response: { 200: json(stateListSchema, 'The states alive now.'), ...stateErrors },
      },
    },
    async (request) => ({ items: await states.required().list(request.query) }),
  );

  app.get(
    '/states/:id',
    {
      schema: {
        tags: ['states'],
        operationId: 'getState',
        summary: 'A kept state: its model, tokens read and expiry',
        params: stateParamsSchema,
        response: {
          200: json(stateInfoSchema, 'The state.'),
          ...stateErrors,
          404: notFound,
        },
      },
    },
    async (request) => {
      const stored = await states.required().get(request.params.id);
      if (stored === undefined) throw errors.stateNotFound(request.params.id);
      return stored.info;
    },
  );

  app.delete(
    '/states/:id',
    {
      schema: {
        tags: ['states'],
        operationId: 'deleteState',
        summary: 'Forget a kept state',
        params: stateParamsSchema,
        response: {
          204: z.undefined().describe('Forgotten.'),
          ...stateErrors,
          404: notFound,
        },
      },
    },
    async (request, reply) => {
      if (!(await states.required().delete(request.params.id))) throw errors.stateNotFound(request.params.id);
      return reply.code(204).send();
    },
  );
  done();
};
