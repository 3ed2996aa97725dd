import { z } from 'zod';

import { STATE_ID_PATTERN } from '../../ids.js';
import { modelIdOut, timestampOut } from '../../queue/contracts.js';
import type { StateInfo } from '../../queue/types.js';
import { modelIdSchema } from './common.js';

/** A state handle as a request names it. */
export const stateIdSchema = z
  .string()
  .max(100)
  .regex(STATE_ID_PATTERN, `must match ${String(STATE_ID_PATTERN)}`)
  .describe('A state handle (`st_...`) an earlier request kept: continue from it.');

export const stateParamsSchema = z.object({ id: stateIdSchema }).strict();

/** The most states one listing returns. */
export const MAX_STATE_LIST = 1000;

export const stateListQuerySchema = z
  .object({
    model: modelIdSchema.optional().describe("Only this model's states."),
    limit: z.coerce.number().int().min(1).max(MAX_STATE_LIST).default(100),
  })
  .strict();

/** A kept recurrent state (StateInfo in src/queue/types.ts). */
export const stateInfoSchema = z
  .object({
    id: z.string().meta({ pattern: STATE_ID_PATTERN.source }),
    model: modelIdOut.describe('The model that kept it; only this model can continue from it.'),
    tokens: z
      .number()
      .int()
      .describe('Tokens read and sampled from the start, over every request that led to this state.'),
    bytes: z.number().int().describe('What it takes in the store.'),
    createdAt: timestampOut,
    expiresAt: timestampOut.describe('When it is forgotten (`RNNLM_STATE_TTL_SECONDS` after it was kept).'),
  })
  .meta({ id: 'State' }) satisfies z.ZodType<StateInfo>;

export const stateListSchema = z.object({ items: z.array(stateInfoSchema) }).meta({ id: 'StateList' });

/** The request fields that continue from a state and keep one, shared by /generate and /score. */
export const stateFields = {
  state: stateIdSchema.optional(),
  saveState: z
    .boolean()
    .optional()
    .describe(
      'Keep the state after this request (its text and output) and answer its handle as `state`, ' +
        'for a later request to continue from.',
    ),
};
