/**
 * onnxruntime-node on our own ONNX export (src/export/onnx.ts: int64 tokens [time, batch] and
 * each layer's h and c [1, batch, hidden] in; logits [time, batch, vocab] and the states out),
 * as a Node user would run it: a session per thread setting, the state carried from one call
 * to the next as the output tensors themselves, the log-softmax and NLL of the logits in
 * JavaScript (the export ends at the logits).
 */
import * as ort from 'onnxruntime-node';

import type { PerSetting } from './settings.js';

/** Intra-op threads; inter-op is 1 and execution sequential at every setting. */
export const ORT_SETTINGS = ['1', '2'] as const;
export type OrtSetting = (typeof ORT_SETTINGS)[number];

/** A figure at every onnxruntime setting. */
export type OrtFigures<T> = PerSetting<T, OrtSetting>;

/** The session options of a setting: every graph optimisation, one inter-op thread, sequential. */
export function ortOptions(setting: OrtSetting): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: Number(setting),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  };
}

/** How a setting is named in tables. */
export function describeOrtSetting(setting: OrtSetting): string {
  return `${setting} intra-op thread${setting === '1' ? '' : 's'}`;
}

/** One session of the exported model, stepping chunks with the state carried. */
export class OrtModel {
  private readonly stateNames: string[];
  private readonly outputNames: string[];
  private tokens = new BigInt64Array(0);

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly hidden: number,
    readonly vocab: number,
  ) {
    this.stateNames = session.inputNames.slice(1);
    this.outputNames = session.outputNames.slice(1);
  }

  static async create(
    onnx: Uint8Array,
    setting: OrtSetting,
    hidden: number,
    vocab: number,
  ): Promise<OrtModel> {
    return new OrtModel(await ort.InferenceSession.create(onnx, ortOptions(setting)), hidden, vocab);
  }

  zeroState(batch: number): ort.Tensor[] {
    return this.stateNames.map(
      () => new ort.Tensor('float32', new Float32Array(batch * this.hidden), [1, batch, this.hidden]),
    );
  }

  /** Logits [steps, batch, vocab] of time-major `ids` ([steps · batch]), and the next state. */
  async forward(
    ids: Int32Array,
    steps: number,
    batch: number,
    state: ort.Tensor[],
  ): Promise<{ logits: Float32Array; state: ort.Tensor[] }> {
    if (this.tokens.length !== ids.length) this.tokens = new BigInt64Array(ids.length);
    for (let i = 0; i < ids.length; i++) this.tokens[i] = BigInt(ids[i] as number);
    const feeds: Record<string, ort.Tensor> = {
      tokens: new ort.Tensor('int64', this.tokens, [steps, batch]),
    };
    this.stateNames.forEach((name, i) => (feeds[name] = state[i] as ort.Tensor));
    const out = await this.session.run(feeds);
    return {
      logits: out.logits?.data as Float32Array,
      state: this.outputNames.map((name) => out[name] as ort.Tensor),
    };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** Each row's negative log-likelihood of its target: -log softmax(logits[r])[targets[r]]. */
export function nllOfLogits(logits: Float32Array, targets: Int32Array, vocab: number): Float64Array {
  const nll = new Float64Array(targets.length);
  for (let r = 0; r < targets.length; r++) {
    const row = r * vocab;
    let max = -Infinity;
    for (let v = 0; v < vocab; v++) max = Math.max(max, logits[row + v] as number);
    let sum = 0;
    for (let v = 0; v < vocab; v++) sum += Math.exp((logits[row + v] as number) - max);
    nll[r] = max + Math.log(sum) - (logits[row + (targets[r] as number)] as number);
  }
  return nll;
}

/** Sessions at every setting, created now; `release` them when done. */
export async function ortModels(
  onnx: Uint8Array,
  hidden: number,
  vocab: number,
): Promise<Record<OrtSetting, OrtModel>> {
  const out = {} as Record<OrtSetting, OrtModel>;
  for (const s of ORT_SETTINGS) out[s] = await OrtModel.create(onnx, s, hidden, vocab);
  return out;
}

export async function releaseAll(models: Record<OrtSetting, OrtModel>): Promise<void> {
  for (const s of ORT_SETTINGS) await models[s].release();
}

/** onnxruntime-node's version. */
export const ORT_VERSION: string = ort.env.versions.node ?? 'unknown';
