/** Debian's headless Chromium through playwright-core, for the browser tests. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

import { chromium, type BrowserContext } from 'playwright-core';

/** The browser the tests drive: `.ci/run` installs Debian's `chromium`. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * A fresh Chromium profile and context (extra options such as headers or a viewport pass
 * through), closed and removed when the test ends.
 */
export async function launchChromium(
  t: TestContext,
  options: Parameters<typeof chromium.launchPersistentContext>[1] = {},
): Promise<BrowserContext> {
  const profile = await mkdtemp(join(tmpdir(), 'rnnlm-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    // The network is closed here: without these Chromium waits on connections that are refused.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    ...options,
  });
  t.after(async () => {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  });
  return context;
}
