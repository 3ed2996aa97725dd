#!/usr/bin/env node
// The CLI is shipped as TypeScript and run through tsx's loader, so there is no build step
// between a checkout and a working `rnnlm`. The tsconfig is named explicitly because tsx
// would otherwise look for one in the caller's working directory.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
await import('../src/cli/main.ts');
