import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { RNNLM_VERSION } from '../../src/version.js';

test('the version the service records and reports is package.json’s', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  assert.equal(RNNLM_VERSION, pkg.version);
});
