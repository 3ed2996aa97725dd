import fp from 'fastify-plugin';

import { RnnlmError } from '../../errors.js';

/**
 * JSON bodies must be valid UTF-8. Fastify's own parser decodes the bytes leniently, so a
 * corpus sent as JSON with broken bytes would silently become U+FFFD characters and train;
 * this parser decodes strictly (400 `RNNLM_INVALID_REQUEST` naming the body) and then parses
 * with Fastify's default JSON parser, keeping its prototype-poisoning protection and its
 * errors for an empty or malformed body.
 */
export const strictJsonBody = fp(
  (app, _options, done) => {
    const parseJson = app.getDefaultJsonParser('error', 'error');
    const decoder = new TextDecoder('utf-8', { fatal: true });
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, parsed) => {
      let text: string;
      try {
        text = decoder.decode(body as Buffer);
      } catch {
        parsed(
          new RnnlmError('RNNLM_INVALID_REQUEST', 'body is not valid UTF-8', { field: 'body' }),
          undefined,
        );
        return;
      }
      void parseJson(request, text, parsed);
    });
    done();
  },
  { name: 'rnnlm-strict-json-body', fastify: '5.x' },
);
