import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { errors } from '../../errors.js';
import type { ModelService } from '../../contracts/models.js';
import { errorResponses, json } from '../schemas/common.js';
import { modelListSchema, modelParamsSchema, modelSchema } from '../schemas/models.js';
import type { StateHandles } from '../states.js';

export interface ModelsRoutesOptions {
  models: ModelService;
  /** The kept states: a deleted model's go with it. */
  states: StateHandles;
}

/** `/models`: the published models. */
export const modelsRoutes: FastifyPluginCallbackZod<ModelsRoutesOptions> = (
  app,
  { models, states },
  done,
) => {
  app.get(
    '/models',
    {
      schema: {
        tags: ['models'],
        operationId: 'listModels',
        summary: 'The published models',
        response: {
          200: json(modelListSchema, 'Every model in the store.'),
          401: errorResponses.unauthorized,
          503: errorResponses.unavailable,
        },
      },
    },
    async () => ({ items: await models.list() }),
  );

  app.get(
    '/models/:id',
    {
      schema: {
        tags: ['models'],
        operationId: 'getModel',
        summary: "A model's configuration, tokenizer, metrics and origin",
        params: modelParamsSchema,
        response: {
          200: json(modelSchema, 'The model.'),
          400: errorResponses.badRequest,
          401: errorResponses.unauthorized,
          404: errorResponses.notFound,
          409: errorResponses.notReady,
          503: errorResponses.unavailable,
        },
      },
    },
    async (request) => {
      const model = await models.get(request.params.id);
      if (model === undefined) throw errors.modelNotFound(request.params.id);
      return model;
    },
  );

  app.delete(
    '/models/:id',
    {
      schema: {
        tags: ['models'],
        operationId: 'deleteModel',
        summary: 'Delete a model',
        description:
          'Removes the model directory, complete or not, drops it from the cache, and forgets the states it kept.',
        params: modelParamsSchema,
        response: {
          204: z.undefined().describe('Deleted.'),
          400: errorResponses.badRequest,
          401: errorResponses.unauthorized,
          404: errorResponses.notFound,
          503: errorResponses.unavailable,
        },
      },
    },
    async (request, reply) => {
      const id = request.params.id;
      if (!(await models.delete(id))) throw errors.modelNotFound(id);
      request.log.info({ modelId: id }, 'model deleted');
      try {
        await states.forgetModel(id);
      } catch (err) {
        // The model is gone: its states can no longer be used, and their TTL ends them.
        request.log.warn({ modelId: id, err }, "the model's kept states were not deleted");
      }
      return reply.code(204).send();
    },
  );
  done();
};
