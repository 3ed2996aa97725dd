import type { Config } from '../config.js';
import type { RunConfig } from '../ml/config.js';

/**
 * The service's limits where a job leaves a size open: a word vocabulary's cap, the step
 * budget and the unroll of untruncated BPTT. The worker applies them when it trains; they are
 * limits, not the job's settings, so the job's config (and its echo) never holds them.
 */
export function withServiceCaps(
  config: Pick<Config, 'RNNLM_MAX_VOCAB' | 'RNNLM_MAX_STEPS' | 'RNNLM_MAX_SEQ_LENGTH'>,
  run: RunConfig,
): RunConfig {
  const { tokenizer, training } = run;
  return {
    ...run,
    tokenizer:
      tokenizer.type === 'word' && tokenizer.vocabSize === undefined
        ? { ...tokenizer, vocabSize: config.RNNLM_MAX_VOCAB }
        : tokenizer,
    training: {
      ...training,
      truncation:
        training.truncation.mode === 'none' && training.truncation.maxLength === undefined
          ? { ...training.truncation, maxLength: config.RNNLM_MAX_SEQ_LENGTH }
          : training.truncation,
      maxSteps: Math.min(training.maxSteps ?? Infinity, config.RNNLM_MAX_STEPS),
    },
  };
}
