/**
 * TensorFlow.js Layers export: a Keras-topology model.json plus one weight shard, loadable
 * by `tf.loadLayersModel`. The graph is built with tfjs' own layers and serialised by tfjs
 * itself, so the topology is exactly what tfjs-layers reads back.
 *
 * Inputs: `tokens` [batch, time] int32, then per layer `h<l>` [batch, hidden] (and `c<l>` for
 * LSTM). Outputs: logits [batch, time, vocab], then the final `h<l>` (and `c<l>`) per layer in
 * the same order, so a client steps token by token by feeding the states back in.
 *
 * LSTM and the tanh RNN map onto Keras' LSTM and SimpleRNN layers (gates reordered from
 * rnnlm's i, f, o, g to Keras' i, f, c, o). rnnlm's GRU applies the reset gate after the
 * recurrent matmul (the cuDNN/PyTorch variant, Keras' `reset_after=True`), which tfjs-layers'
 * GRU refuses, so a GRU export spells one step out in Dense/Multiply/Add layers and takes
 * one token per call (`time` = 1).
 */
import * as tf from '@tensorflow/tfjs';

import { LSTM } from '../ml/model/cells/lstm.js';
import { RNNLM_VERSION } from '../version.js';
import { columns, concatColumns, exportMetadata, transpose, weight, type ExportSource } from './source.js';
import type { TfjsExportMetadata } from './types.js';

/** The file name of the weight shard beside model.json. */
export const TFJS_WEIGHTS_FILE = 'group1-shard1of1.bin';

const LSTM_ORDER = LSTM.keras.order;

export interface TfjsExport {
  /** model.json as an object; `weightsManifest[0].paths` names {@link TFJS_WEIGHTS_FILE}. */
  modelJson: Record<string, unknown> & { weightsManifest: [{ paths: string[]; weights: unknown[] }] };
  weightData: Uint8Array;
}

function stateNames(source: ExportSource): string[] {
  const names: string[] = [];
  for (let l = 0; l < source.config.layers; l++) {
    names.push(`h${l}`);
    if (source.config.cell === 'lstm') names.push(`c${l}`);
  }
  return names;
}

/** A layer's weights as tensors, in the order `setWeights` takes them; the caller disposes them. */
type Assign = [string, tf.Tensor[]];

const zeros = { kernelInitializer: 'zeros', biasInitializer: 'zeros' } as const;

function t2(data: Float32Array, rows: number, cols: number): tf.Tensor2D {
  return tf.tensor2d(data, [rows, cols]);
}

/** Kernel columns in Keras' gate order (the cell's spec; LSTM i, f, o, g becomes i, f, c(=g), o). */
function kerasOrder(
  w: { data: Float32Array; shape: number[] },
  h: number,
  order: readonly number[],
): Float32Array {
  const rows = w.shape.length === 1 ? 1 : (w.shape[0] as number);
  return concatColumns(
    rows,
    order.map((k) => columns({ name: '', ...w }, k * h, h)),
  );
}

function sequenceLayers(
  source: ExportSource,
  x0: tf.SymbolicTensor,
  states: tf.SymbolicTensor[],
  assign: Assign[],
): { out: tf.SymbolicTensor; finals: tf.SymbolicTensor[] } {
  const { cell, layers, hiddenSize: h, embeddingSize: e } = source.config;
  let x = x0;
  const finals: tf.SymbolicTensor[] = [];
  for (let l = 0; l < layers; l++) {
    const input = l === 0 ? e : h;
    const kernel = weight(source, `layers.${l}.kernel`);
    const recurrent = weight(source, `layers.${l}.recurrent`);
    const bias = weight(source, `layers.${l}.bias`);
    const common = {
      name: `layer${l}`,
      units: h,
      returnSequences: true,
      returnState: true,
      kernelInitializer: 'zeros',
      recurrentInitializer: 'zeros',
      biasInitializer: 'zeros',
    } as const;
    if (cell === 'lstm') {
      const layer = tf.layers.lstm({ ...common, recurrentActivation: 'sigmoid', unitForgetBias: false });
      // Initial states passed as extra inputs, not as the initialState keyword, serialise as inbound nodes.
      const [seq, hT, cT] = layer.apply([
        x,
        states[2 * l] as tf.SymbolicTensor,
        states[2 * l + 1] as tf.SymbolicTensor,
      ]) as tf.SymbolicTensor[];
      finals.push(hT as tf.SymbolicTensor, cT as tf.SymbolicTensor);
      x = seq as tf.SymbolicTensor;
      assign.push([
        common.name,
        [
          t2(kerasOrder(kernel, h, LSTM_ORDER), input, 4 * h),
          t2(kerasOrder(recurrent, h, LSTM_ORDER), h, 4 * h),
          tf.tensor1d(kerasOrder(bias, h, LSTM_ORDER)),
        ],
      ]);
    } else {
      const layer = tf.layers.simpleRNN({ ...common, activation: 'tanh' });
      const [seq, hT] = layer.apply([x, states[l] as tf.SymbolicTensor]) as tf.SymbolicTensor[];
      finals.push(hT as tf.SymbolicTensor);
      x = seq as tf.SymbolicTensor;
      assign.push([
        common.name,
        [t2(kernel.data, input, h), t2(recurrent.data, h, h), tf.tensor1d(bias.data)],
      ]);
    }
  }
  return { out: x, finals };
}

/**
 * One GRU step out of stock layers. With a = x·Wx + h·Wh + b per gate block (rnnlm's order r,
 * u, n): r = σ(a_r), u = σ(a_u), n = tanh(x·Wx_n + b_n + r ⊙ (h·Wh_n + b_hn)),
 * h' = (1 − u) ⊙ n + u ⊙ h. tfjs-layers has no Subtract layer, so 1 − u comes as σ(−a_u).
 */
function gruStep(
  source: ExportSource,
  l: number,
  x: tf.SymbolicTensor,
  hPrev: tf.SymbolicTensor,
  assign: Assign[],
): tf.SymbolicTensor {
  const { hiddenSize: h, embeddingSize: e } = source.config;
  const input = l === 0 ? e : h;
  const kernel = weight(source, `layers.${l}.kernel`);
  const recurrent = weight(source, `layers.${l}.recurrent`);
  const bias = weight(source, `layers.${l}.bias`);
  const rb = weight(source, `layers.${l}.recurrentBias`);
  const stacked = (k: number, sign: number) => {
    const data = new Float32Array((input + h) * h);
    data.set(columns(kernel, k * h, h));
    data.set(columns(recurrent, k * h, h), input * h);
    const b = bias.data.slice(k * h, (k + 1) * h);
    if (sign < 0) {
      for (let i = 0; i < data.length; i++) data[i] = -(data[i] as number);
      for (let i = 0; i < b.length; i++) b[i] = -(b[i] as number);
    }
    return [t2(data, input + h, h), tf.tensor1d(b)];
  };
  const p = `layer${l}_`;
  const xh = tf.layers.concatenate({ name: `${p}xh` }).apply([x, hPrev]) as tf.SymbolicTensor;
  const dense = (name: string, activation: 'sigmoid' | 'linear', from: tf.SymbolicTensor, w: tf.Tensor[]) => {
    assign.push([p + name, w]);
    return tf.layers
      .dense({ name: p + name, units: h, activation, ...zeros })
      .apply(from) as tf.SymbolicTensor;
  };
  const r = dense('reset', 'sigmoid', xh, stacked(0, 1));
  const u = dense('update', 'sigmoid', xh, stacked(1, 1));
  const keep = dense('update_complement', 'sigmoid', xh, stacked(1, -1));
  const xn = dense('candidate_input', 'linear', x, [
    t2(columns(kernel, 2 * h, h), input, h),
    tf.tensor1d(bias.data.slice(2 * h, 3 * h)),
  ]);
  const hn = dense('candidate_recurrent', 'linear', hPrev, [
    t2(columns(recurrent, 2 * h, h), h, h),
    tf.tensor1d(rb.data),
  ]);
  const mul = (name: string, a: tf.SymbolicTensor, b: tf.SymbolicTensor) =>
    tf.layers.multiply({ name: p + name }).apply([a, b]) as tf.SymbolicTensor;
  const pre = tf.layers.add({ name: `${p}candidate_sum` }).apply([xn, mul('reset_recurrent', r, hn)]);
  const n = tf.layers
    .activation({ name: `${p}candidate`, activation: 'tanh' })
    .apply(pre) as tf.SymbolicTensor;
  return tf.layers
    .add({ name: `${p}state` })
    .apply([mul('new_part', keep, n), mul('kept_part', u, hPrev)]) as tf.SymbolicTensor;
}

/**
 * Builds the tfjs Layers export. Runs on the current tfjs backend; every tensor it makes is
 * disposed before it returns.
 */
export async function exportTfjs(source: ExportSource): Promise<TfjsExport> {
  const { cell, layers, hiddenSize: h, embeddingSize: e, vocabSize: v } = source.config;
  const gru = cell === 'gru';
  const tokens = tf.input({ name: 'tokens', shape: [gru ? 1 : null], dtype: 'int32' });
  const names = stateNames(source);
  const states = names.map((name) => tf.input({ name, shape: [h] }));
  const assign: Assign[] = [];
  let model: tf.LayersModel | undefined;
  try {
    const embedded = tf.layers
      .embedding({ name: 'embedding', inputDim: v, outputDim: e, embeddingsInitializer: 'zeros' })
      .apply(tokens) as tf.SymbolicTensor;
    assign.push(['embedding', [t2(weight(source, 'embedding').data, v, e)]]);
    let top: tf.SymbolicTensor;
    let finals: tf.SymbolicTensor[];
    if (gru) {
      let x = tf.layers
        .reshape({ name: 'step_input', targetShape: [e] })
        .apply(embedded) as tf.SymbolicTensor;
      finals = [];
      for (let l = 0; l < layers; l++) {
        x = gruStep(source, l, x, states[l] as tf.SymbolicTensor, assign);
        finals.push(x);
      }
      top = x;
    } else {
      ({ out: top, finals } = sequenceLayers(source, embedded, states, assign));
    }
    const outputKernel = source.config.tieWeights
      ? t2(transpose(weight(source, 'embedding').data, v, h), h, v)
      : t2(weight(source, 'output.kernel').data, h, v);
    assign.push(['output', [outputKernel, tf.tensor1d(weight(source, 'output.bias').data)]]);
    let logits = tf.layers.dense({ name: 'output', units: v, ...zeros }).apply(top) as tf.SymbolicTensor;
    if (gru)
      logits = tf.layers.reshape({ name: 'logits', targetShape: [1, v] }).apply(logits) as tf.SymbolicTensor;
    model = tf.model({ name: 'rnnlm', inputs: [tokens, ...states], outputs: [logits, ...finals] });
    for (const [name, ws] of assign) model.getLayer(name).setWeights(ws);
    // tfjs records the initial states as both inbound tensors and a call argument; the call
    // argument is not JSON and would only be dropped with a console warning on save.
    for (let l = 0; l < layers && !gru; l++) {
      for (const n of model.getLayer(`layer${l}`).inboundNodes) n.callArgs = {};
    }
    const metadata: TfjsExportMetadata = {
      ...exportMetadata(source, 'rnnlm-tfjs', {
        inputs: ['tokens', ...names],
        outputs: ['logits', ...names],
      }),
      tokensPerCall: gru ? 1 : null,
    };
    model.setUserDefinedMetadata({ rnnlm: metadata });
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler((artifacts) => {
        saved = artifacts;
        return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } });
      }),
    );
    if (saved?.weightData === undefined || saved.weightSpecs === undefined) {
      throw new Error('tfjs saved no weights');
    }
    const data = saved.weightData;
    const weightData = new Uint8Array(Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data);
    return {
      modelJson: {
        format: 'layers-model',
        generatedBy: `rnnlm ${RNNLM_VERSION}`,
        convertedBy: null,
        modelTopology: saved.modelTopology,
        weightsManifest: [{ paths: [TFJS_WEIGHTS_FILE], weights: saved.weightSpecs }],
        userDefinedMetadata: saved.userDefinedMetadata,
      },
      weightData,
    };
  } finally {
    for (const [, ws] of assign) for (const w of ws) w.dispose();
    model?.dispose();
  }
}
