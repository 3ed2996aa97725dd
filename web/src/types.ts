/** What the API answers, typed from its own schemas (type-only: nothing of them is bundled). */
import type { z } from 'zod';

import type { modelSchema } from '../../src/api/schemas/models.js';
import type { scoreResultSchema, generateResultSchema } from '../../src/api/schemas/inference.js';

export type { Job, JobEvent } from '../../src/queue/contracts.js';
export type Model = z.infer<typeof modelSchema>;
export type ScoreResult = z.infer<typeof scoreResultSchema>;
export type GenerateResult = z.infer<typeof generateResultSchema>;

/** Renders a page into `root`; `signal` aborts when the page is left. */
export type View = (root: HTMLElement, signal: AbortSignal, id: string) => void | Promise<void>;
