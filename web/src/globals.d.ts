/** JSON Schemas of the API's own zod schemas, compiled in by scripts/build-web.mjs. */
declare const RNNLM_SCHEMAS: {
  runConfig: import('./schema.js').JsonSchema;
  generate: import('./schema.js').JsonSchema;
};
