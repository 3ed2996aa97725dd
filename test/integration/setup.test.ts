/**
 * The set-up behind `npm ci && npm test`: where it cannot install (not root, no apt-get) it
 * stops at once naming what is missing, and the test runner never lets the native-engine
 * tests skip quietly.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { test, type TestContext } from 'node:test';

const ROOT = resolve(import.meta.dirname, '../..');

async function tempDir(t: TestContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The absolute path of a program on this process's PATH. */
function which(tool: string): string | undefined {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .map((dir) => join(dir, tool))
    .find((p) => {
      try {
        accessSync(p, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/** A PATH holding only the tools the set-up script itself uses: no redis-server or redis-sentinel, no compiler. */
async function barePath(t: TestContext): Promise<string> {
  const bin = await tempDir(t, 'rnnlm-bin-');
  // The script may run as nobody, who must be able to look in here.
  await chmod(bin, 0o755);
  const tools = ['node', 'bash', 'grep', 'head', 'timeout', 'seq', 'sleep', 'id', 'mktemp', 'rm', 'dirname'];
  for (const tool of tools) {
    const found = which(tool);
    if (found !== undefined) await symlink(found, join(bin, tool));
  }
  return bin;
}

test('not root: the set-up stops within seconds, naming each missing piece and its install command', async (t) => {
  const bin = await barePath(t);
  // As root, drop to nobody: the not-root path must never try to install.
  const bash = which('bash') ?? 'bash';
  const script = join(ROOT, 'scripts/setup-test-env.sh');
  const [command, ...args] =
    process.getuid?.() === 0
      ? [which('setpriv') ?? 'setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', bash, script]
      : [bash, script];
  const started = Date.now();
  const run = spawnSync(command, args, {
    env: { PATH: bin, HOME: tmpdir(), CHROMIUM_PATH: '/nonexistent/chromium' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(run.status, 1, `${run.error?.message ?? run.signal ?? ''} ${run.stderr}`);
  assert.ok(Date.now() - started < 10_000, 'it took more than 10 seconds');
  assert.match(run.stderr, /redis-server[^\n]*\n\s+install: apt-get install -y redis-server/);
  assert.match(run.stderr, /redis-sentinel[^\n]*\n\s+install: apt-get install -y redis-sentinel/);
  assert.match(run.stderr, /Chromium[^\n]*\n\s+install: apt-get install -y chromium/);
  assert.match(run.stderr, /sudo apt-get install -y redis-server redis-sentinel[^\n]*chromium/);
});

test('without the native engine the runner says so loudly, and under CI=true it fails', async (t) => {
  const repo = await tempDir(t, 'rnnlm-runner-');
  await mkdir(join(repo, 'scripts'));
  await mkdir(join(repo, 'test', 'unit'), { recursive: true });
  await copyFile(join(ROOT, 'scripts/run-tests.mjs'), join(repo, 'scripts/run-tests.mjs'));
  await symlink(join(ROOT, 'node_modules'), join(repo, 'node_modules'));
  await writeFile(
    join(repo, 'test/unit/ok.test.ts'),
    "import { test } from 'node:test';\ntest('runs', () => undefined);\n",
  );
  const runner = (ci: string | undefined) =>
    spawnSync(process.execPath, ['scripts/run-tests.mjs', 'unit'], {
      cwd: repo,
      env: { ...process.env, CI: ci },
      encoding: 'utf8',
      timeout: 60_000,
    });

  const local = runner(undefined);
  assert.equal(local.status, 0, local.stderr);
  assert.match(local.stderr, /native engine \(oneDNN\) is not built: its tests will be SKIPPED/);
  const ci = runner('true');
  assert.equal(ci.status, 1);
  assert.match(ci.stderr, /CI=true: refusing to run the suite without the native engine/);
});
