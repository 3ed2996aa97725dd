// Writes openapi.yaml from the routes (`npm run openapi`); `--check` fails when it is stale instead.
import { readFile, writeFile } from 'node:fs/promises';

import { generateOpenApiYaml } from '../src/api/openapi-generate.js';
import { OPENAPI_PATH } from '../src/api/routes/docs.js';

const generated = await generateOpenApiYaml();
if (process.argv.includes('--check')) {
  const committed = await readFile(OPENAPI_PATH, 'utf8').catch(() => '');
  if (committed !== generated) {
    console.error('openapi.yaml is not what the routes generate: run `npm run openapi` and commit it');
    process.exit(1);
  }
} else {
  await writeFile(OPENAPI_PATH, generated);
  console.log(`wrote ${OPENAPI_PATH}`);
}
