/**
 * What dropout costs a training step: rnnlm at the first training shape with dropout 0.2
 * against the same without, interleaved round by round (target: ≥ 0.95× the speed).
 */
import { fmt, interleave, median, type BenchContext } from '../common.js';
import type { DropoutResult } from '../result.js';
import { RnnlmTrainer, type TrainConfig } from '../rnnlm-side.js';

export const DROPOUT = 0.2;

export async function dropoutMeasure(ctx: BenchContext, c: TrainConfig): Promise<DropoutResult> {
  const perRound = ctx.opts.quick ? 3 : 10;
  const plain = new RnnlmTrainer(c, ctx.tokens, ctx.vocab);
  const dropped = new RnnlmTrainer({ ...c, dropout: DROPOUT }, ctx.tokens, ctx.vocab);
  try {
    await plain.run(2);
    await dropped.run(2);
    const rounds = await interleave(
      ctx.opts.rounds,
      {
        without: async () => (await plain.run(perRound)).stepMs,
        with: async () => (await dropped.run(perRound)).stepMs,
      },
      (r, ms) =>
        ctx.log(
          `dropout ${c.name} round ${r + 1}/${ctx.opts.rounds}: without ${fmt(median(ms.without))}, with ${DROPOUT} ${fmt(median(ms.with))} ms/step`,
        ),
    );
    const tok = (ms: number[][]) => (c.batch * c.steps * 1000) / median(ms.flat());
    const without = tok(rounds.without);
    const withDropout = tok(rounds.with);
    return {
      config: c.name,
      rate: DROPOUT,
      withoutTokPerSec: without,
      withTokPerSec: withDropout,
      ratio: withDropout / without,
    };
  } finally {
    plain.dispose();
    dropped.dispose();
  }
}
