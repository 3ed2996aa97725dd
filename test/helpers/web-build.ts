import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { DASHBOARD_DIR } from '../../src/api/routes/dashboard.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * What dist/web is built from, the one list the browser tests share: the page, its build
 * script, and src/, whose modules the bundle includes (tokenizers, sampler, errors, ids) and
 * whose zod schemas the build compiles into it.
 */
export const DASHBOARD_SOURCES = ['web', 'scripts/build-web.mjs', 'src'] as const;

/** The newest modification time of the files under `path` (a file or a directory). */
async function newest(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.mtimeMs;
  const times = await Promise.all((await readdir(path)).map((name) => newest(join(path, name))));
  return Math.max(info.mtimeMs, ...times);
}

/** Builds dist/web unless it is newer than everything it is built from. */
export async function ensureDashboardBuilt(): Promise<void> {
  const built = await stat(join(DASHBOARD_DIR, 'app.js')).then(
    (s) => s.mtimeMs,
    () => 0,
  );
  const latest = Math.max(...(await Promise.all(DASHBOARD_SOURCES.map((s) => newest(join(ROOT, s))))));
  if (built > latest) return;
  const result = spawnSync(process.execPath, [join(ROOT, 'scripts/build-web.mjs')], { encoding: 'utf8' });
  assert.equal(result.status, 0, `the dashboard build failed:\n${result.stdout}\n${result.stderr}`);
}
