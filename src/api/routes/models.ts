import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { RnnlmError } from '../../errors.js';
import type { ModelService } from '../../contracts/models.js';
import { errorSchema } from '../schemas/common.js';
import { modelListSchema, modelParamsSchema, modelSchema } from '../schemas/models.js';

export interface ModelsRoutesOptions {
  models: ModelService;
}

export function modelNotFound(id: string): RnnlmError {
  return new RnnlmError('RNNLM_MODEL_NOT_FOUND', `model ${id} not found`, { modelId: id });
}

/** `/models`: the published models. */
export const modelsRoutes: FastifyPluginCallbackZod<ModelsRoutesOptions> = (app, { models }, done) => {
  app.get('/models', { schema: { response: { 200: modelListSchema } } }, async () => ({
    items: await models.list(),
  }));

  app.get(
    '/models/:id',
    {
      schema: {
        params: modelParamsSchema,
        response: { 200: modelSchema, 400: errorSchema, 404: errorSchema, 409: errorSchema },
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
        params: modelParamsSchema,
        response: { 204: z.undefined(), 400: errorSchema, 404: errorSchema },
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
