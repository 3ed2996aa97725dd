/**
 * Scoring throughput at B32 T64 (forward → log-softmax → per-token NLL read back, the state
 * carried from chunk to chunk): rnnlm's `chunkNll` on the served model, torch at every thread
 * setting, onnxruntime on the served model's ONNX export at each of its settings, interleaved.
 */
import type * as ort from 'onnxruntime-node';

import { chunkNll } from '../../src/ml/eval/evaluate.js';
import { disposeState } from '../../src/ml/model/lm.js';
import { fmt, interleave, median, type BenchContext } from '../common.js';
import type { Machine } from '../machine.js';
import { nllOfLogits, ORT_SETTINGS, type OrtModel, type OrtSetting } from '../ort.js';
import { throughput, type ScoreResult, type Throughput } from '../result.js';
import { Batches, forwardFlopsPerToken, stepArgs } from '../rnnlm-side.js';
import type { ServedModel } from '../served-model.js';
import { best, bestOf, higher } from '../settings.js';
import { TORCH_SETTINGS, torchAt, type TorchSetting } from '../torch.js';
import { torchSeconds } from './train.js';

/** Times `n` chunks (default: a round's). */
type Side = (n?: number) => Promise<number[]>;

/** rnnlm: `chunks` chunks of the served model through `chunkNll`, each timed. */
function rnnlmSide(
  served: ServedModel,
  ctx: BenchContext,
  chunks: number,
): { side: Side; dispose: () => void } {
  const c = served.config;
  const data = new Batches(ctx.tokens, c.batch, c.steps);
  let state = served.model.zeroState(c.batch);
  const side = async (n = chunks) => {
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      data.next();
      const t0 = performance.now();
      const out = chunkNll(served.model, data.x, data.y, c.steps, state);
      await out.nll.data();
      ms.push(performance.now() - t0);
      out.nll.dispose();
      disposeState(state);
      state = out.state;
    }
    return ms;
  };
  return { side, dispose: () => disposeState(state) };
}

/** onnxruntime: the same chunks through one session; `nllMs` collects the JavaScript NLL's part. */
function ortSide(
  model: OrtModel,
  served: ServedModel,
  ctx: BenchContext,
  chunks: number,
  nllMs: number[],
): Side {
  const c = served.config;
  const data = new Batches(ctx.tokens, c.batch, c.steps);
  let state: ort.Tensor[] = model.zeroState(c.batch);
  return async (n = chunks) => {
    const ms: number[] = [];
    for (let i = 0; i < n; i++) {
      data.next();
      const t0 = performance.now();
      const out = await model.forward(data.x, c.steps, c.batch, state);
      const t1 = performance.now();
      nllOfLogits(out.logits, data.y, model.vocab);
      const t2 = performance.now();
      ms.push(t2 - t0);
      nllMs.push(t2 - t1);
      state = out.state;
    }
    return ms;
  };
}

export async function scoreMeasure(
  ctx: BenchContext,
  machine: Machine,
  served: ServedModel,
  ortModels: Record<OrtSetting, OrtModel>,
): Promise<ScoreResult> {
  const c = served.config;
  const chunks = ctx.opts.quick ? 8 : 20;
  const rnnlm = rnnlmSide(served, ctx, chunks);
  const nllMs = Object.fromEntries(ORT_SETTINGS.map((s) => [s, [] as number[]])) as Record<
    OrtSetting,
    number[]
  >;
  const ortSides = Object.fromEntries(
    ORT_SETTINGS.map((s) => [`ort ${s}`, ortSide(ortModels[s], served, ctx, chunks, nllMs[s])]),
  ) as Record<`ort ${OrtSetting}`, Side>;
  const args = stepArgs('score', c, ctx.vocab, ctx.tokensFile, 3, chunks, torchSeconds(ctx));
  const torchSides = Object.fromEntries(
    TORCH_SETTINGS.map((s) => [s, async () => (await torchAt<{ stepMs: number[] }>(args, s)).stepMs]),
  ) as Record<TorchSetting, Side>;
  // Warm-up: two chunks on each side that runs in this process.
  await rnnlm.side(2);
  for (const s of ORT_SETTINGS) await ortSides[`ort ${s}`](2);
  for (const s of ORT_SETTINGS) nllMs[s].length = 0;
  const sides = { rnnlm: rnnlm.side, ...ortSides, ...torchSides };
  const rounds = await interleave(ctx.opts.rounds, sides, (r, ms) =>
    ctx.log(
      `score round ${r + 1}/${ctx.opts.rounds}: ${Object.entries(ms)
        .map(([k, v]) => `${k} ${fmt(median(v), 1)}`)
        .join(', ')} ms a chunk`,
    ),
  );
  rnnlm.dispose();
  return scoreResult(served, machine, rounds, nllMs);
}

function scoreResult(
  served: ServedModel,
  machine: Machine,
  rounds: Record<'rnnlm' | `ort ${OrtSetting}` | TorchSetting, number[][]>,
  nllMs: Record<OrtSetting, number[]>,
): ScoreResult {
  const c = served.config;
  const flops = forwardFlopsPerToken(c, served.tokenizer.vocabSize);
  const figure = (ms: number[][]): Throughput =>
    throughput((c.batch * c.steps * 1000) / median(ms.flat()), flops, ms.flat().length, machine.fma.gflops);
  const rnnlm = figure(rounds.rnnlm);
  const torch = bestOf(
    TORCH_SETTINGS,
    (s) => figure(rounds[s]),
    (t) => t.tokPerSec,
    higher,
  );
  const ort = bestOf(
    ORT_SETTINGS,
    (s) => figure(rounds[`ort ${s}`]),
    (t) => t.tokPerSec,
    higher,
  );
  const ortMs = rounds[`ort ${ort.winner}`].flat();
  const boundTok =
    machine.bound.find((b) => b.hidden === c.hidden && b.batch === c.batch && b.steps === c.steps)
      ?.twoLayerForwardTokPerSec ?? Number.NaN;
  return {
    config: `H${c.hidden} E${c.embedding} B${c.batch} T${c.steps}`,
    rnnlm,
    torch,
    ratio: rnnlm.tokPerSec / best(torch).tokPerSec,
    ort,
    ortRatio: rnnlm.tokPerSec / best(ort).tokPerSec,
    ortNllShare: nllMs[ort.winner].reduce((a, b) => a + b, 0) / ortMs.reduce((a, b) => a + b, 0),
    flopsPerToken: flops,
    bound: {
      tokPerSec: boundTok,
      rnnlm: rnnlm.tokPerSec / boundTok,
      torch: best(torch).tokPerSec / boundTok,
    },
  };
}
