#!/usr/bin/env node
// Builds the dashboard (web/) into dist/web: one ES module bundle with its CSS (uPlot's
// included), the page and its icon. Run by `npm run build`, and by the browser tests first.
//
// The form's defaults, choices and bounds are not written in web/: they are the API's own zod
// schemas (runConfigSchema, the /generate body), turned into JSON Schema here and compiled
// into the bundle, so the page cannot drift from what the API accepts.
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';
import { register } from 'tsx/esm/api';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist', 'web');

// The schemas are TypeScript: load them through tsx, which `npm run build` has at hand.
const unregister = register();
const { z } = await import('zod');
const { runConfigSchema } = await import('../src/ml/config.ts');
const { generateBodySchema } = await import('../src/api/schemas/inference.ts');
await unregister();

/**
 * The JSON Schema of a zod schema as the forms read it: the named schemas (the OpenAPI
 * components, which zod puts under `$defs` and refers to) inlined where they are used.
 */
function jsonSchema(schema) {
  const { $defs = {}, ...top } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
  const inline = (node) => {
    if (Array.isArray(node)) return node.map(inline);
    if (node === null || typeof node !== 'object') return node;
    const { $ref, ...rest } = node;
    const own = Object.fromEntries(Object.entries(rest).map(([key, value]) => [key, inline(value)]));
    return typeof $ref === 'string' && $ref.startsWith('#/$defs/')
      ? { ...inline($defs[$ref.slice('#/$defs/'.length)]), ...own }
      : own;
  };
  return inline(top);
}
const schemas = {
  runConfig: jsonSchema(runConfigSchema),
  // The service's own cap on maxTokens is a setting; the API answers 400 above it.
  generate: jsonSchema(generateBodySchema(Number.MAX_SAFE_INTEGER)),
};

await rm(outDir, { recursive: true, force: true });
await mkdir(outDir, { recursive: true });
await build({
  absWorkingDir: root,
  entryPoints: { app: 'web/src/main.ts' },
  outdir: outDir,
  bundle: true,
  format: 'esm',
  // tfjs ("run in this browser") is a chunk of its own, loaded when first used.
  splitting: true,
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  define: { RNNLM_SCHEMAS: JSON.stringify(schemas) },
  logLevel: 'warning',
});
await copyFile(join(root, 'web', 'index.html'), join(outDir, 'index.html'));
await copyFile(join(root, 'web', 'favicon.svg'), join(outDir, 'favicon.svg'));
console.log(`dashboard built into ${outDir}`);
