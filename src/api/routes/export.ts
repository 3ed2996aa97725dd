import type { FastifyPluginCallbackZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { EXPORT_FORMATS, TFJS_WEIGHTS_FILE } from '../../export/index.js';
import type { ModelService } from '../../contracts/models.js';
import { errorResponses, modelIdSchema } from '../schemas/common.js';
import { modelParamsSchema } from '../schemas/models.js';
import { errors } from '../../errors.js';

export interface ExportRoutesOptions {
  models: ModelService;
}

/**
 * Where a tfjs model.json served by `GET /models/{id}/export?format=tfjs` finds its shard:
 * tfjs resolves weight paths against model.json's URL up to its last '/', i.e. `/models/{id}/`.
 */
const SHARD_ROUTE_PATH = `export/tfjs/${TFJS_WEIGHTS_FILE}`;

// The bodies are files (model.json, the shard, the .onnx), sent as they are, not serialised.
const fileBodies = {
  'application/octet-stream': {
    schema: z.string().meta({ format: 'binary' }).describe('The .onnx file, or the tfjs weight shard.'),
  },
  'application/json': {
    schema: z
      .unknown()
      .describe(
        'The tfjs `model.json` (Keras topology, weights manifest, the tokenizer in `userDefinedMetadata.rnnlm`).',
      ),
  },
};
const responses = {
  200: { description: 'The exported file.', content: fileBodies },
  400: errorResponses.badRequest,
  404: errorResponses.notFound,
  409: errorResponses.notReady,
};

/** `/models/{id}/export`: the model as ONNX or TensorFlow.js Layers, tokenizer included. */
export const exportRoutes: FastifyPluginCallbackZod<ExportRoutesOptions> = (app, { models }, done) => {
  const files = async (id: string, format: (typeof EXPORT_FORMATS)[number]) => {
    const exported = await models.exportFiles(id, format);
    if (exported === undefined) throw errors.modelNotFound(id);
    return exported;
  };

  app.get(
    '/models/:id/export',
    {
      schema: {
        params: modelParamsSchema,
        querystring: z.object({ format: z.enum(EXPORT_FORMATS) }).strict(),
        response: responses,
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const { format } = request.query;
      const exported = await files(id, format);
      request.log.info({ modelId: id, format }, 'model exported');
      if (format === 'onnx') {
        return reply
          .type('application/octet-stream')
          .header('content-disposition', `attachment; filename="${id}.onnx"`)
          .send(Buffer.from(exported.get('model.onnx') as Uint8Array));
      }
      const modelJson = JSON.parse(exported.get('model.json') as string) as {
        weightsManifest: { paths: string[] }[];
      };
      for (const group of modelJson.weightsManifest) group.paths = [SHARD_ROUTE_PATH];
      return reply.type('application/json').send(JSON.stringify(modelJson));
    },
  );

  app.get(
    '/models/:id/export/tfjs/:file',
    {
      schema: {
        params: z.object({ id: modelIdSchema, file: z.enum(['model.json', TFJS_WEIGHTS_FILE]) }).strict(),
        response: responses,
      },
    },
    async (request, reply) => {
      const { id, file } = request.params;
      const content = (await files(id, 'tfjs')).get(file);
      if (file === 'model.json') return reply.type('application/json').send(content);
      return reply.type('application/octet-stream').send(Buffer.from(content as Uint8Array));
    },
  );
  done();
};
