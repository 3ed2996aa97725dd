import { clearErrors, collect, field, showError } from '../forms.js';
import { h, replaceChildren } from '../dom.js';
import type { LocalBackend, LocalModel } from '../local-model.js';
import { generateSchema } from '../schema.js';
import type { Model } from '../types.js';
import { samplingForm } from './sampling-form.js';

/**
 * "Run in this browser": the model's TensorFlow.js export, fetched once from the API, generates
 * here with the same sampling controls as the server's playground; nothing is sent back.
 */
export function localRun(model: Model): HTMLElement {
  const backend = h(
    'select',
    { attrs: { name: 'backend' } },
    ...(['auto', 'webgl', 'cpu'] as const).map((b) => h('option', { text: b, attrs: { value: b } })),
  );
  const output = h('div', {
    class: 'generated mono',
    attrs: { id: 'local-generated', 'aria-live': 'polite' },
  });
  const info = h('div', { class: 'muted small', attrs: { id: 'local-info' } });
  const sampling = samplingForm({
    id: 'local-form',
    runLabel: 'Run in this browser',
    fields: [field('backend', 'tfjs backend', backend, 'auto picks WebGL when this browser has it')],
  });
  const { form, prompt } = sampling;
  let loaded: { backend: LocalBackend; model: Promise<LocalModel> } | undefined;

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      clearErrors(form);
      const signal = sampling.start();
      const promptText = prompt.value;
      replaceChildren(output, h('span', { class: 'prompt-text', text: promptText }));
      delete output.dataset.done;
      const chosen = backend.value as LocalBackend;
      if (loaded?.backend !== chosen) {
        void loaded?.model.then(
          (m) => m.dispose(),
          () => undefined,
        );
        // The engine's generation loop and tfjs come with the first run, not with the dashboard.
        loaded = {
          backend: chosen,
          model: import('../local-model.js').then(({ loadLocalModel }) => loadLocalModel(model.id, chosen)),
        };
      }
      let tokens = 0;
      try {
        info.textContent = 'Loading the model into this browser…';
        const local = await loaded.model;
        info.textContent = `Generating on tfjs ${local.backend}…`;
        const started = performance.now();
        const values = collect(form) as {
          temperature?: number;
          topK?: number;
          topP?: number;
          maxTokens?: number;
          seed?: number;
        };
        const result = await local.generate(
          {
            prompt: promptText,
            temperature: values.temperature,
            topK: values.topK,
            topP: values.topP,
            seed: values.seed,
            maxTokens: values.maxTokens ?? Number(generateSchema.properties?.maxTokens?.default ?? 200),
            signal,
          },
          (delta) => {
            tokens++;
            output.append(h('span', { class: 'gen-token', text: delta }));
          },
        );
        const seconds = (performance.now() - started) / 1000;
        info.textContent = `${result.tokens} tokens in ${seconds.toFixed(1)} s on tfjs ${local.backend} in this browser · finished: ${result.finishReason}`;
        output.dataset.text = result.text;
        output.dataset.done = result.finishReason;
      } catch (err) {
        if (signal.aborted) info.textContent = `Stopped after ${tokens} tokens.`;
        else {
          info.textContent = '';
          loaded = undefined;
          showError(form, err);
        }
      } finally {
        sampling.finish();
      }
    })();
  });
  return h(
    'section',
    { class: 'card', attrs: { id: 'local-run' } },
    h('h2', { text: 'Run in this browser' }),
    h('p', {
      class: 'muted small',
      text: 'Downloads the TensorFlow.js export of this model and generates here, with tfjs in this page.',
    }),
    form,
    output,
    info,
  );
}
