/** Reading the API's schemas (JSON Schema, compiled in at build time) for the forms. */

export interface JsonSchema {
  type?: string;
  enum?: readonly (string | number)[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  properties?: Record<string, JsonSchema>;
  description?: string;
}

/** The schema of the field at `path` (`model.hiddenSize`) inside `root`. */
export function fieldSchema(root: JsonSchema, path: string): JsonSchema {
  let node: JsonSchema | undefined = root;
  for (const key of path.split('.')) node = node?.properties?.[key];
  if (node === undefined) throw new Error(`the API schema has no field ${path}`);
  return node;
}

/** The default the API applies when the field is left out, as form text ('' when none). */
export function defaultText(schema: JsonSchema): string {
  const value = schema.default;
  return typeof value === 'number' || typeof value === 'string' ? String(value) : '';
}

export const runConfigSchema = RNNLM_SCHEMAS.runConfig;
export const generateSchema = RNNLM_SCHEMAS.generate;
