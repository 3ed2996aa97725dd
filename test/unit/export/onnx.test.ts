import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';

import * as ort from 'onnxruntime-node';

import { exportModelDir, exportOnnx, readExportSource } from '../../../src/export/index.js';
import type { OnnxExportMetadata } from '../../../src/export/index.js';
import { initBackend } from '../../../src/ml/backend.js';
import type { CellType } from '../../../src/ml/model/layout.js';
import type { TokenizerType } from '../../../src/ml/tokenizers/index.js';
import { maxAbsDiff, randomStates, referenceRun, writeTestModelDir } from '../../helpers/model-dir.js';

before(async () => {
  await initBackend('cpu', 'off');
});

const TOLERANCE = 1e-4;

/**
 * ModelProto.metadata_props (field 14), read off the wire: onnxruntime-node does not expose
 * custom metadata, so this is how a client without the onnx package would read it too.
 */
function metadataProps(bytes: Uint8Array): Record<string, string> {
  const varint = (at: { pos: number }, buf: Uint8Array): number => {
    let value = 0;
    let shift = 1;
    for (;;) {
      const b = buf[at.pos++] as number;
      value += (b & 0x7f) * shift;
      if (b < 0x80) return value;
      shift *= 128;
    }
  };
  const fields = (buf: Uint8Array): [number, Uint8Array | number][] => {
    const out: [number, Uint8Array | number][] = [];
    const at = { pos: 0 };
    while (at.pos < buf.length) {
      const key = varint(at, buf);
      const wire = key & 7;
      if (wire === 0) out.push([key >> 3, varint(at, buf)]);
      else if (wire === 2) {
        const len = varint(at, buf);
        out.push([key >> 3, buf.subarray(at.pos, at.pos + len)]);
        at.pos += len;
      } else if (wire === 5) at.pos += 4;
      else throw new Error(`wire type ${wire}`);
    }
    return out;
  };
  const text = new TextDecoder();
  const props: Record<string, string> = {};
  for (const [field, value] of fields(bytes)) {
    if (field !== 14 || typeof value === 'number') continue;
    const entry = new Map(fields(value).map(([f, v]) => [f, typeof v === 'number' ? '' : text.decode(v)]));
    props[entry.get(1) ?? ''] = entry.get(2) ?? '';
  }
  return props;
}

async function runOnnx(
  session: ort.InferenceSession,
  ids: number[],
  initial: Float32Array[],
  hidden: number,
): Promise<{ logits: Float32Array; state: Float32Array[] }> {
  const [tokens, ...stateNames] = session.inputNames;
  const feeds: Record<string, ort.Tensor> = {
    [tokens as string]: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [ids.length, 1]),
  };
  stateNames.forEach((name, i) => {
    feeds[name] = new ort.Tensor('float32', initial[i] as Float32Array, [1, 1, hidden]);
  });
  const out = await session.run(feeds);
  const [logits, ...states] = session.outputNames.map((name) => out[name]?.data as Float32Array);
  return { logits: logits as Float32Array, state: states };
}

const cases: { cell: CellType; tokenizer: TokenizerType; layers: number; tieWeights?: boolean }[] = [
  { cell: 'lstm', tokenizer: 'char', layers: 2 },
  { cell: 'gru', tokenizer: 'word', layers: 2 },
  { cell: 'rnn', tokenizer: 'bpe', layers: 2 },
  { cell: 'lstm', tokenizer: 'word', layers: 1 },
  { cell: 'gru', tokenizer: 'bpe', layers: 3, tieWeights: true },
  { cell: 'rnn', tokenizer: 'char', layers: 1 },
];

for (const c of cases) {
  test(`a ${c.layers}-layer ${c.cell} (${c.tokenizer} tokenizer${c.tieWeights === true ? ', tied' : ''}) runs in onnxruntime with rnnlm's logits and final state`, async (t) => {
    const fixture = await writeTestModelDir(t, c);
    const bytes = exportOnnx(await readExportSource(fixture.dir, 'mdl_test'));
    const session = await ort.InferenceSession.create(bytes);
    t.after(() => session.release());

    const meta = JSON.parse(metadataProps(bytes).rnnlm ?? 'null') as OnnxExportMetadata;
    assert.deepEqual(meta.tokenizer.json, fixture.tokenizer.toJSON());
    assert.deepEqual(session.inputNames, meta.inputs);
    assert.deepEqual(session.outputNames, meta.outputs);

    const ids = fixture.tokenizer.encode('To be, or not').slice(0, 6);
    const initial = randomStates(fixture.config, 3);
    const want = referenceRun(fixture.model, ids, initial);
    const got = await runOnnx(session, ids, initial, fixture.config.hiddenSize);
    assert.ok(
      maxAbsDiff(got.logits, want.logits) < TOLERANCE,
      `logits differ by ${maxAbsDiff(got.logits, want.logits)}`,
    );
    want.state.forEach((s, i) =>
      assert.ok(maxAbsDiff(got.state[i] as Float32Array, s) < TOLERANCE, `state ${i}`),
    );

    // Stepping one token at a time, feeding each final state back, gives the same numbers.
    let state = initial;
    const stepped: number[] = [];
    for (const id of ids) {
      const step = await runOnnx(session, [id], state, fixture.config.hiddenSize);
      stepped.push(...step.logits);
      state = step.state;
    }
    assert.ok(maxAbsDiff(stepped, want.logits) < TOLERANCE);
  });
}

test('an onnx export is written to a .onnx file that onnxruntime loads, and an existing file is not overwritten', async (t) => {
  const fixture = await writeTestModelDir(t, { cell: 'gru', layers: 1 });
  const out = join(fixture.dir, '..', 'model.onnx');
  await exportModelDir(fixture.dir, 'onnx', out, { name: 'mdl_test' });
  const session = await ort.InferenceSession.create(await readFile(out));
  await session.release();
  await assert.rejects(exportModelDir(fixture.dir, 'onnx', out, { name: 'mdl_test' }), {
    code: 'RNNLM_INVALID_CONFIG',
  });
});
