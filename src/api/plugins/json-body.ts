import fp from 'fastify-plugin';

import { errors } from '../../errors.js';

// In `u` mode a surrogate pair is one code point, so only a lone surrogate matches.
const LONE_SURROGATE = /\p{Surrogate}/u;
const LONE_SURROGATE_ALL = /\p{Surrogate}/gu;

/**
 * The path of the first string (or object key) in `value` that is not well-formed Unicode: a
 * lone UTF-16 surrogate, which JSON can carry as `"\ud800"` though no UTF-8 text can. Such a
 * string would be stored as U+FFFD or sent back as JSON that strict parsers refuse.
 */
export function illFormedPath(value: unknown, at = ''): string | undefined {
  if (typeof value === 'string') return LONE_SURROGATE.test(value) ? at : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, item] of Object.entries(value)) {
    if (LONE_SURROGATE.test(key)) return `${at}.${key.replace(LONE_SURROGATE_ALL, '\uFFFD')}`;
    const found = illFormedPath(item, `${at}.${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * JSON bodies must be valid UTF-8 and hold only valid Unicode text. Fastify's own parser
 * decodes the bytes leniently, so a corpus sent as JSON with broken bytes would silently
 * become U+FFFD characters and train; this parser decodes strictly (400
 * `RNNLM_INVALID_REQUEST` naming the body), parses with Fastify's default JSON parser, keeping
 * its prototype-poisoning protection and its errors for an empty or malformed body, and then
 * refuses any string with a lone surrogate escape, naming its field.
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
        parsed(errors.notUtf8('body'), undefined);
        return;
      }
      void parseJson(request, text, (err, value: unknown) => {
        const bad = err === null ? illFormedPath(value, 'body') : undefined;
        if (bad !== undefined) parsed(errors.notUnicode(bad), undefined);
        else parsed(err, value);
      });
    });
    done();
  },
  { name: 'rnnlm-strict-json-body', fastify: '5.x' },
);

/**
 * Query strings must decode to valid UTF-8. Fastify's parser leaves a malformed escape such
 * as `%ED%A0%80` (an encoded surrogate) as it is, so `prompt=ab%ED%A0%80cd` would prime a
 * model with the literal text `ab%ED%A0%80cd`; this hook answers 400 naming the parameter.
 */
export const strictQueryString = fp(
  (app, _options, done) => {
    app.addHook('onRequest', (request, _reply, next) => {
      const url = request.raw.url ?? '';
      const at = url.indexOf('?');
      if (at >= 0) {
        for (const pair of url.slice(at + 1).split('&')) {
          const eq = pair.indexOf('=');
          const [name, value] = eq < 0 ? [pair, ''] : [pair.slice(0, eq), pair.slice(eq + 1)];
          const field = decodeOrUndefined(name);
          if (field === undefined || decodeOrUndefined(value) === undefined) {
            next(errors.notUnicode(`querystring.${field ?? 'parameter'}`));
            return;
          }
        }
      }
      next();
    });
    done();
  },
  { name: 'rnnlm-strict-query-string', fastify: '5.x' },
);

function decodeOrUndefined(text: string): string | undefined {
  try {
    // Percent-decoding throws URIError on an escape that is not valid UTF-8.
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}
