import { basename, resolve } from 'node:path';

import { loadConfig } from '../../config.js';
import { exportModelDir } from '../../export/index.js';
import type { ExportArgs } from '../args.js';
import { startBackend, writeJson, type CliIo } from '../io.js';

/** `rnnlm export`: writes the model as ONNX or TensorFlow.js Layers. Returns the exit code. */
export async function runExport(args: ExportArgs, io: CliIo): Promise<number> {
  // The tfjs export is built with tfjs' own layers, which need a backend; ONNX is plain bytes.
  if (args.format === 'tfjs') await startBackend(loadConfig(), io);
  const files = await exportModelDir(args.model, args.format, args.out, {
    name: basename(resolve(args.model)),
    overwrite: args.force,
  });
  if (args.json) writeJson(io, { format: args.format, files });
  else io.stdout.write(files.map((f) => `${f}\n`).join(''));
  return 0;
}
