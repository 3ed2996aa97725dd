/**
 * Model export: from a model directory to the files of an ONNX or TensorFlow.js Layers
 * model. Pure conversion; the API route and the CLI decide where the files go.
 */
import { writeFile } from 'node:fs/promises';

import { errors } from '../errors.js';
import { writeDirAtomic, type FileContent } from '../storage/fs-atomic.js';
import { exportOnnx } from './onnx.js';
import { readExportSource, type ExportFormat, type ExportSource } from './source.js';
import { exportTfjs, TFJS_WEIGHTS_FILE, type TfjsExport } from './tfjs.js';

export { EXPORT_FORMATS, exportSource, readExportSource } from './source.js';
export type { ExportFormat, ExportSource, ExportTokenizer } from './source.js';
export { exportOnnx } from './onnx.js';
export { exportTfjs, TFJS_WEIGHTS_FILE, type TfjsExport } from './tfjs.js';
export type { ExportMetadata, OnnxExportMetadata, TfjsExportMetadata } from './types.js';

/** model.json of a tfjs export with its weight shard named `weightsPath` (relative to model.json's URL). */
export function tfjsModelJson(exported: TfjsExport, weightsPath = TFJS_WEIGHTS_FILE): string {
  const [group] = exported.modelJson.weightsManifest;
  return JSON.stringify({
    ...exported.modelJson,
    weightsManifest: [{ ...group, paths: [weightsPath] }],
  });
}

/** The files of an export: `model.onnx`, or tfjs' `model.json` and its weight shard. */
export async function exportFiles(
  source: ExportSource,
  format: ExportFormat,
): Promise<Map<string, FileContent>> {
  switch (format) {
    case 'onnx':
      return new Map([['model.onnx', exportOnnx(source)]]);
    case 'tfjs': {
      const exported = await exportTfjs(source);
      return new Map<string, FileContent>([
        ['model.json', tfjsModelJson(exported)],
        [TFJS_WEIGHTS_FILE, exported.weightData],
      ]);
    }
  }
}

/**
 * Exports the model directory `modelDir` to `out`: the .onnx file itself for onnx, a
 * directory holding model.json and the weight shard for tfjs (written atomically; an
 * existing one is refused unless `overwrite`). Returns the paths written.
 */
export async function exportModelDir(
  modelDir: string,
  format: ExportFormat,
  out: string,
  options: { name: string; overwrite?: boolean },
): Promise<string[]> {
  const source = await readExportSource(modelDir, options.name);
  const files = await exportFiles(source, format);
  if (format === 'onnx') {
    try {
      await writeFile(out, files.get('model.onnx') as Uint8Array, {
        flag: options.overwrite === true ? 'w' : 'wx',
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      throw errors.pathExists(out);
    }
    return [out];
  }
  await writeDirAtomic(out, files, { overwrite: options.overwrite ?? false });
  return [...files.keys()].map((f) => `${out}/${f}`);
}
