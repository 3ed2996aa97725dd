import { h } from '../dom.js';
import { field, schemaField } from '../forms.js';
import { generateSchema } from '../schema.js';

/** A generation form: the prompt and sampling settings of the API's /generate body, a run and a stop button. */
export interface SamplingForm {
  form: HTMLFormElement;
  prompt: HTMLTextAreaElement;
  run: HTMLButtonElement;
  stop: HTMLButtonElement;
  /** Starts a run: disables "run", enables "stop", and returns the signal "stop" aborts. */
  start(): AbortSignal;
  /** Ends a run: "run" enabled again, "stop" disabled. */
  finish(): void;
}

/**
 * The sampling form of the server's playground and of "run in this browser": the same fields,
 * from the same schema, so that both take the same settings. `fields` go after the sampling
 * settings; `actions` before the stop button, `nextToRun` between it and the run button.
 */
export function samplingForm(options: {
  id: string;
  runLabel: string;
  fields?: HTMLElement[];
  actions?: HTMLElement[];
  nextToRun?: HTMLElement[];
}): SamplingForm {
  const g = (path: string, label: string, placeholder?: string) =>
    schemaField(generateSchema, { path, label, ...(placeholder === undefined ? {} : { placeholder }) });
  const prompt = h('textarea', {
    class: 'mono',
    attrs: {
      name: 'prompt',
      rows: '3',
      spellcheck: 'false',
      placeholder: 'Start the text here (may be empty)…',
    },
  });
  prompt.dataset.kind = 'string';
  const run = h('button', { class: 'button primary', text: options.runLabel, attrs: { type: 'submit' } });
  const stop = h('button', { class: 'button ghost', text: 'Stop', attrs: { type: 'button' } });
  stop.disabled = true;
  let controller: AbortController | undefined;
  stop.addEventListener('click', () => controller?.abort());
  const form = h(
    'form',
    { attrs: { novalidate: '', id: options.id } },
    h('div', { class: 'form-banner' }),
    field('prompt', 'Prompt', prompt),
    h(
      'div',
      { class: 'grid grid-5' },
      g('temperature', 'Temperature'),
      g('topK', 'Top-k', 'off'),
      g('topP', 'Top-p', 'off'),
      g('maxTokens', 'Max tokens'),
      g('seed', 'Seed', 'random'),
    ),
    ...(options.fields ?? []),
    h('div', { class: 'actions' }, ...(options.actions ?? []), stop, ...(options.nextToRun ?? []), run),
  );
  return {
    form,
    prompt,
    run,
    stop,
    start() {
      controller = new AbortController();
      run.disabled = true;
      stop.disabled = false;
      return controller.signal;
    },
    finish() {
      run.disabled = false;
      stop.disabled = true;
    },
  };
}
