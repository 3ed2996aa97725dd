import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { RnnlmError } from '../../errors.js';
import type { ModelService } from '../../contracts/models.js';
import { errors, json } from '../schemas/common.js';
import { modelListSchema, modelParamsSchema, modelSchema } from '../schemas/models.js';

export interface ModelsRoutesOptions {
  models: ModelService;
}

export function modelNotFound(id: string): RnnlmError {
  return new RnnlmError('RNNLM_MODEL_NOT_FOUND', `model ${id} not found`, { modelId: id });
}

/** `/models`: the published models. */
export const modelsRoutes: FastifyPluginCallbackZod<ModelsRoutesOptions> = (app, { models }, done) => {
  app.get(
    '/models',
    {
      schema: {
        tags: ['models'],
        operationId: 'listModels',
        summary: 'The published models',
        response: {
          200: json(modelListSchema, 'Every model in the store.'),
          401: errors.unauthorized,
          503: errors.unavailable,
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
          400: errors.badRequest,
          401: errors.unauthorized,
          404: errors.notFound,
          409: errors.notReady,
          503: errors.unavailable,
        },
      },
    },
    async (request) => {
      const model = await models.get(request.params.id);
      if (model === undefined) throw modelNotFound(request.params.id);
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
        description: 'Removes the model directory, complete or not, and drops it from the cache.',
        params: modelParamsSchema,
        response: {
          204: z.undefined().describe('Deleted.'),
          400: errors.badRequest,
          401: errors.unauthorized,
          404: errors.notFound,
          503: errors.unavailable,
        },
      },
    },
    async (request, reply) => {
      if (!(await models.delete(request.params.id))) throw modelNotFound(request.params.id);
      request.log.info({ modelId: request.params.id }, 'model deleted');
      return reply.code(204).send();
    },
  );
  done();
};
