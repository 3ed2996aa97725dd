/**
 * What the worker would refuse about a job's data, found at submit time so it is a 400 naming
 * the field instead of a job that fails later: a training text too short for one minibatch,
 * and, under untruncated BPTT, streams longer than the cap. Token counts come from bounds that
 * need no tokenizer training (exact for char and word; for bpe, at least one token per
 * pre-tokenized chunk and at most one per byte), so a refusal here is one the worker would
 * certainly make.
 */
import type { Config } from '../config.js';
import { errors } from '../errors.js';
import type { RunConfig } from '../ml/config.js';
import { minTokensForOneBatch } from '../ml/data/partition.js';
import { countCodePoints, splitText } from '../ml/data/split.js';
import { assertUntruncatedFits } from '../ml/data/truncation.js';
import { preTokenize } from '../ml/tokenizers/bpe.js';
import { CURRENT_NORMALIZATION } from '../ml/tokenizers/normalize.js';
import { WORD_EOS, WORD_UNK, WordTokenizer } from '../ml/tokenizers/word.js';
import { withServiceCaps } from './limits.js';

/** Bounds on the number of tokens `text` becomes under `tokenizer`. */
function tokenBounds(text: string, tokenizer: RunConfig['tokenizer']): { least: number; most: number } {
  switch (tokenizer.type) {
    case 'char': {
      const n = countCodePoints(text);
      return { least: n, most: n };
    }
    case 'word': {
      // Every word is <unk> to an empty vocabulary, but the count is the same.
      const n = new WordTokenizer([WORD_UNK, WORD_EOS], tokenizer.lowercase ?? false, {
        version: 2,
        normalization: CURRENT_NORMALIZATION,
      }).encode(text).length;
      return { least: n, most: n };
    }
    case 'bpe':
      return { least: preTokenize(text).length, most: Buffer.byteLength(text, 'utf8') };
  }
}

/**
 * Refuses a job whose training text cannot make one minibatch, or whose untruncated streams
 * exceed the cap (`training.truncation.maxLength`, else the service's RNNLM_MAX_SEQ_LENGTH).
 *
 * @throws RnnlmError RNNLM_CORPUS_TOO_SMALL (field `corpus`) or RNNLM_SEQUENCE_TOO_LONG (field
 * `training.truncation.maxLength`).
 */
export function checkDataFits(
  config: Pick<Config, 'RNNLM_MAX_VOCAB' | 'RNNLM_MAX_STEPS' | 'RNNLM_MAX_SEQ_LENGTH'>,
  run: RunConfig,
  corpus: string,
  validation: { text: string } | { fraction: number },
): void {
  const capped = withServiceCaps(config, run);
  const t = capped.training;
  const trainText =
    'fraction' in validation && validation.fraction > 0
      ? splitText(corpus, validation.fraction).train
      : corpus;
  const needed = minTokensForOneBatch(t);
  const bounds = tokenBounds(trainText, capped.tokenizer);
  if (bounds.most < needed) {
    throw errors.tooFewTokens({
      tokens: bounds.most,
      atMost: bounds.most !== bounds.least,
      batchSize: t.batchSize,
      seqLength: t.seqLength,
      needed,
    });
  }
  assertUntruncatedFits(Math.floor((bounds.least - 1) / t.batchSize), t.truncation);
}
