#!/usr/bin/env node
// Runs node:test over an explicit file list: on Node 20 a bare directory argument runs nothing.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const suites = process.argv.slice(2);
const wanted = suites.length > 0 ? suites : ['unit', 'integration', 'faults', 'browser'];

function collect(dir) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.sort().flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return collect(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}

// The native-kernel tests skip where native/ is not built: say so where nobody can miss it,
// and fail CI, which must test the kernels it ships.
const ADDON = resolve('native/build/Release/rnnlm_native.node');
let nativeError;
try {
  createRequire(import.meta.url)(ADDON);
} catch (err) {
  nativeError = err instanceof Error ? err.message.split('\n')[0] : String(err);
}
if (nativeError !== undefined) {
  const rule = '!'.repeat(78);
  console.error(
    [
      rule,
      '!! The native engine (oneDNN) is not built: its tests will be SKIPPED.',
      `!! (${nativeError})`,
      '!! Install libdnnl-dev g++ make python3 and run: npm run build:native',
      rule,
    ].join('\n'),
  );
  if (process.env.CI === 'true') {
    console.error('CI=true: refusing to run the suite without the native engine.');
    process.exit(1);
  }
}

let failed = false;
for (const suite of wanted) {
  const files = collect(join('test', suite));
  if (files.length === 0) {
    if (suites.length > 0) {
      console.error(`no test files under test/${suite}`);
      process.exit(1);
    }
    continue;
  }
  // Everything but the unit tests shares Redis servers, ports and real processes: one file at a time.
  const concurrency = suite === 'unit' ? '2' : '1';
  console.log(`\n# ${suite}: ${files.length} files`);
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...files],
    { stdio: 'inherit', env: { ...process.env, RNNLM_LOG_LEVEL: process.env.RNNLM_LOG_LEVEL ?? 'silent' } },
  );
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
