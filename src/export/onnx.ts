/**
 * ONNX export: embedding (Gather) → one LSTM/GRU/RNN operator per layer → MatMul + Add, with
 * every layer's state as explicit graph inputs and outputs so a runtime can step token by
 * token. Written straight to the protobuf wire format (opset 14); the tokenizer travels in
 * the model's metadata_props under `rnnlm`.
 *
 * Inputs: `tokens` int64 [time, batch] (time-major, the ONNX RNN operators' layout), then per
 * layer `h<l>` (and `c<l>` for LSTM) float [1, batch, hidden]. Outputs: `logits` [time, batch,
 * vocab], then `h<l>_out` (and `c<l>_out`) per layer.
 */
import { CELLS } from '../ml/model/cells/index.js';
import { RNNLM_VERSION } from '../version.js';
import { columns, exportMetadata, transpose, weight, type ExportSource } from './source.js';
import { float32Bytes, Message } from './protobuf.js';
import type { OnnxExportMetadata } from './types.js';

const FLOAT = 1;
const INT64 = 7;
const ATTR_INT = 2;
const OPSET = 14;
/** ONNX IR version 7 goes with opset 14. */
const IR_VERSION = 7;

type Dim = number | string;

function tensor(name: string, dims: number[], data: Float32Array): Message {
  return new Message().packedInts(1, dims).int(2, FLOAT).string(8, name).bytes(9, float32Bytes(data));
}

function int64Tensor(name: string, values: number[]): Message {
  return new Message().packedInts(1, [values.length]).int(2, INT64).packedInts(7, values).string(8, name);
}

function valueInfo(name: string, elemType: number, dims: Dim[]): Message {
  const shape = new Message();
  for (const d of dims) {
    shape.message(1, typeof d === 'number' ? new Message().int(1, d) : new Message().string(2, d));
  }
  const tensorType = new Message().int(1, elemType).message(2, shape);
  return new Message().string(1, name).message(2, new Message().message(1, tensorType));
}

function node(
  op: string,
  name: string,
  inputs: string[],
  outputs: string[],
  ints: Record<string, number> = {},
) {
  const m = new Message();
  for (const i of inputs) m.string(1, i);
  for (const o of outputs) m.string(2, o);
  m.string(3, name).string(4, op);
  for (const [key, value] of Object.entries(ints)) {
    m.message(5, new Message().string(1, key).int(3, value).int(20, ATTR_INT));
  }
  return m;
}

/** Rows of the ONNX [gates*H, in] weight: gate blocks of rnnlm's [in, gates*H] kernel, transposed, in `order`. */
function gateRows(
  w: { name: string; shape: number[]; data: Float32Array },
  h: number,
  order: number[],
): Float32Array {
  const rows = w.shape[0] as number;
  const out = new Float32Array(order.length * h * rows);
  order.forEach((k, i) => out.set(transpose(columns(w, k * h, h), rows, h), i * h * rows));
  return out;
}

/** Builds the ONNX model bytes (a serialised ModelProto). */
export function exportOnnx(source: ExportSource): Uint8Array {
  const { cell, layers, hiddenSize: h, embeddingSize: e, vocabSize: v } = source.config;
  const { op, order: onnxOrder } = CELLS[cell].onnx;
  const order = [...onnxOrder];
  const g = order.length;
  const graph = new Message().string(2, 'rnnlm');
  const nodes: Message[] = [];
  const inits: Message[] = [tensor('embedding', [v, e], weight(source, 'embedding').data)];
  const inputs = [valueInfo('tokens', INT64, ['time', 'batch'])];
  const outputs: Message[] = [];
  const stateNames: string[] = [];
  nodes.push(node('Gather', 'embed', ['embedding', 'tokens'], ['x0']));
  inits.push(int64Tensor('axis1', [1]));
  for (let l = 0; l < layers; l++) {
    const input = l === 0 ? e : h;
    const bias = weight(source, `layers.${l}.bias`);
    const b = new Float32Array(2 * g * h);
    order.forEach((k, i) => b.set(bias.data.subarray(k * h, (k + 1) * h), i * h));
    if (cell === 'gru') b.set(weight(source, `layers.${l}.recurrentBias`).data, 2 * g * h - h);
    inits.push(
      tensor(`W${l}`, [1, g * h, input], gateRows(weight(source, `layers.${l}.kernel`), h, order)),
      tensor(`R${l}`, [1, g * h, h], gateRows(weight(source, `layers.${l}.recurrent`), h, order)),
      tensor(`B${l}`, [1, 2 * g * h], b),
    );
    const states = cell === 'lstm' ? [`h${l}`, `c${l}`] : [`h${l}`];
    stateNames.push(...states);
    for (const s of states) {
      inputs.push(valueInfo(s, FLOAT, [1, 'batch', h]));
      outputs.push(valueInfo(`${s}_out`, FLOAT, [1, 'batch', h]));
    }
    const attrs: Record<string, number> = { hidden_size: h };
    // rnnlm's GRU applies the reset gate to (h·R + b_hn), the variant ONNX calls linear_before_reset.
    if (cell === 'gru') attrs.linear_before_reset = 1;
    nodes.push(
      node(
        op,
        `layer${l}`,
        [`x${l}`, `W${l}`, `R${l}`, `B${l}`, '', ...states],
        [`y${l}`, ...states.map((s) => `${s}_out`)],
        attrs,
      ),
      // Y is [time, directions, batch, hidden]; the next layer wants [time, batch, hidden].
      node('Squeeze', `squeeze${l}`, [`y${l}`, 'axis1'], [`x${l + 1}`]),
    );
  }
  const outputKernel = source.config.tieWeights
    ? transpose(weight(source, 'embedding').data, v, h)
    : weight(source, 'output.kernel').data;
  inits.push(
    tensor('output.kernel', [h, v], outputKernel),
    tensor('output.bias', [v], weight(source, 'output.bias').data),
  );
  nodes.push(
    node('MatMul', 'project', [`x${layers}`, 'output.kernel'], ['projected']),
    node('Add', 'output', ['projected', 'output.bias'], ['logits']),
  );
  outputs.unshift(valueInfo('logits', FLOAT, ['time', 'batch', v]));
  for (const n of nodes) graph.message(1, n);
  for (const i of inits) graph.message(5, i);
  for (const i of inputs) graph.message(11, i);
  for (const o of outputs) graph.message(12, o);

  const metadata: OnnxExportMetadata = exportMetadata(source, 'rnnlm-onnx', {
    inputs: ['tokens', ...stateNames],
    outputs: ['logits', ...stateNames.map((s) => `${s}_out`)],
  });
  return new Message()
    .int(1, IR_VERSION)
    .string(2, 'rnnlm')
    .string(3, RNNLM_VERSION)
    .message(7, graph)
    .message(8, new Message().string(1, '').int(2, OPSET))
    .message(14, new Message().string(1, 'rnnlm').string(2, JSON.stringify(metadata)))
    .finish();
}
