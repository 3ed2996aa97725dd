import type { StopReason } from './types.js';

const CUT_BY: Record<StopReason, string> = {
  epochs: 'its epoch cap was reached',
  maxSteps: "the deployment's step limit was reached",
  maxMinutes: 'its time budget ran out',
  earlyStopping: 'validation stopped improving (early stopping; the best weights are kept)',
};

/**
 * What to tell a user whose run stopped short of the steps they asked for, and why; undefined
 * when they asked for no step count or got all of it. A silent cut looks like a broken run.
 */
export function shortfallNote(
  askedSteps: number | undefined,
  result: { steps: number; stopReason: StopReason },
): string | undefined {
  if (askedSteps === undefined || result.steps >= askedSteps) return undefined;
  return `stopped at step ${result.steps} of the ${askedSteps} asked for: ${CUT_BY[result.stopReason]}`;
}
