/**
 * Training throughput: rnnlm's `trainStep` (one step = forward, backward, clip, Adam, loss read
 * back) against torch at every thread setting, interleaved round by round, at each training
 * shape; tok/s also as a share of oneDNN's bound for that shape.
 */
import { fmt, interleave, median, type BenchContext } from '../common.js';
import type { Machine } from '../machine.js';
import { throughput, type Throughput, type TrainResult } from '../result.js';
import { forwardFlopsPerToken, RnnlmTrainer, stepArgs, type TrainConfig } from '../rnnlm-side.js';
import { best, bestOf, higher } from '../settings.js';
import { TORCH_SETTINGS, torchAt, type TorchSetting } from '../torch.js';

/** Caps a torch process's warm-up plus measured steps; an oversubscribed setting still reports one. */
export const torchSeconds = (ctx: BenchContext): number => (ctx.opts.quick ? 8 : 60);

function stepsPerRound(ctx: BenchContext, c: TrainConfig): number {
  if (ctx.opts.quick) return c.hidden >= 512 ? 2 : 3;
  return c.hidden >= 512 ? 4 : 10;
}

/** One training shape, every side; the caller disposes the trainer (the cross-check reads its weights). */
export async function trainMeasure(
  ctx: BenchContext,
  machine: Machine,
  c: TrainConfig,
): Promise<{ result: TrainResult; trainer: RnnlmTrainer }> {
  const perRound = stepsPerRound(ctx, c);
  const warmup = ctx.opts.quick ? 1 : 2; // a fresh torch process is slow for its first steps too
  const trainer = new RnnlmTrainer(c, ctx.tokens, ctx.vocab);
  ctx.log(`train ${c.name}: rnnlm warm-up (${warmup} steps)`);
  await trainer.run(warmup);
  const args = stepArgs('train', c, ctx.vocab, ctx.tokensFile, warmup, perRound, torchSeconds(ctx));
  const torchSide = (s: TorchSetting) => async () => (await torchAt<{ stepMs: number[] }>(args, s)).stepMs;
  const sides = {
    rnnlm: async () => (await trainer.run(perRound)).stepMs,
    ...Object.fromEntries(TORCH_SETTINGS.map((s) => [s, torchSide(s)])),
  } as Record<'rnnlm' | TorchSetting, () => Promise<number[]>>;
  const rounds = await interleave(ctx.opts.rounds, sides, (r, ms) =>
    ctx.log(
      `train ${c.name} round ${r + 1}/${ctx.opts.rounds}: rnnlm ${fmt(median(ms.rnnlm))} ms/step; torch ${TORCH_SETTINGS.map((s) => `${s} ${fmt(median(ms[s]))}`).join(', ')} ms/step`,
    ),
  );
  return { result: trainResult(c, ctx.vocab, machine, rounds), trainer };
}

function trainResult(
  c: TrainConfig,
  vocab: number,
  machine: Machine,
  rounds: Record<'rnnlm' | TorchSetting, number[][]>,
): TrainResult {
  const tokPerStep = c.batch * c.steps;
  const flops = 3 * forwardFlopsPerToken(c, vocab);
  const figure = (ms: number[][]): Throughput =>
    throughput((tokPerStep * 1000) / median(ms.flat()), flops, ms.flat().length, machine.fma.gflops);
  const rnnlm = figure(rounds.rnnlm);
  const torch = bestOf(
    TORCH_SETTINGS,
    (s) => figure(rounds[s]),
    (t) => t.tokPerSec,
    higher,
  );
  const bound = machine.bound.find(
    (b) => b.hidden === c.hidden && b.batch === c.batch && b.steps === c.steps,
  );
  const boundTok = bound?.twoLayerTrainingTokPerSec ?? Number.NaN;
  return {
    config: c.name,
    hidden: c.hidden,
    embedding: c.embedding,
    batch: c.batch,
    steps: c.steps,
    rnnlm,
    torch,
    ratio: rnnlm.tokPerSec / best(torch).tokPerSec,
    roundRatios: rounds.rnnlm.map((ms, r) => median(rounds[torch.winner][r] ?? []) / median(ms)),
    flopsPerToken: flops,
    bound: {
      tokPerSec: boundTok,
      rnnlm: rnnlm.tokPerSec / boundTok,
      torch: best(torch).tokPerSec / boundTok,
    },
  };
}
