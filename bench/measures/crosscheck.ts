/**
 * Do rnnlm and torch compute the same model? rnnlm's trained weights are copied into torch
 * (torch_ref.py maps the gate order and layouts) and both score one batch: every per-token NLL
 * must agree to 1e-4. The bench exits non-zero when they do not.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { chunkNll } from '../../src/ml/eval/evaluate.js';
import { disposeState, type RnnLm } from '../../src/ml/model/lm.js';
import { writeInt32, type BenchContext } from '../common.js';
import type { CrossCheck } from '../result.js';
import { Batches, modelArgs, type TrainConfig } from '../rnnlm-side.js';
import { torchAt } from '../torch.js';

const TOLERANCE = 1e-4;

/** Writes the model's weights as raw float32 files plus the JSON manifest torch_ref.py reads. */
export function writeWeights(model: RnnLm, dir: string): string {
  const manifest = model.getWeights().map((w, i) => {
    const file = join(dir, `w${i}.f32`);
    writeFileSync(file, Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength));
    return { name: w.name, shape: w.shape, file };
  });
  const path = join(dir, 'weights.json');
  writeFileSync(path, JSON.stringify({ weights: manifest }));
  return path;
}

async function rnnlmNll(model: RnnLm, data: Batches, c: TrainConfig): Promise<Float32Array> {
  const zero = model.zeroState(c.batch);
  const out = chunkNll(model, data.x, data.y, c.steps, zero);
  disposeState(zero);
  disposeState(out.state);
  const nll = (await out.nll.data()) as Float32Array;
  out.nll.dispose();
  return nll;
}

export async function crossCheck(ctx: BenchContext, model: RnnLm, c: TrainConfig): Promise<CrossCheck> {
  ctx.log('cross-check: rnnlm weights copied into torch, forward loss on one batch');
  const weights = writeWeights(model, ctx.tmp);
  const data = new Batches(ctx.tokens, c.batch, c.steps);
  for (let k = 0; k < 17; k++) data.next(); // some batch other than the first
  writeInt32(join(ctx.tmp, 'x.i32'), data.x);
  writeInt32(join(ctx.tmp, 'y.i32'), data.y);
  const rNll = await rnnlmNll(model, data, c);
  const files = ['--weights', weights, '--x', join(ctx.tmp, 'x.i32'), '--y', join(ctx.tmp, 'y.i32')];
  const shape = ['--batch', `${c.batch}`, '--steps', `${c.steps}`];
  const t = await torchAt<{ loss: number; nll: number[] }>(
    ['crosscheck', ...modelArgs(c, ctx.vocab), ...files, ...shape],
    '1x2',
  );
  let maxAbsDiff = t.nll.length === rNll.length ? 0 : Number.NaN;
  let rLoss = 0;
  rNll.forEach((v, i) => {
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(v - (t.nll[i] ?? Number.NaN)));
    rLoss += v;
  });
  rLoss /= rNll.length;
  const lossAbsDiff = Math.abs(rLoss - t.loss);
  return {
    config: c.name,
    rnnlmLoss: rLoss,
    torchLoss: t.loss,
    lossAbsDiff,
    maxAbsDiff,
    tolerance: TOLERANCE,
    pass: lossAbsDiff <= TOLERANCE && maxAbsDiff <= TOLERANCE,
  };
}
