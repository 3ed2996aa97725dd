import { ApiError, request } from '../api.js';
import { h, num, replaceChildren } from '../dom.js';
import { clearErrors, collect, field, schemaField, showError } from '../forms.js';
import { runConfigSchema } from '../schema.js';
import type { Job, View } from '../types.js';
import { pageHead } from './page-head.js';

/** `#/new`: the form that starts a training job, with the API's defaults filled in. */
export const newJobView: View = (root) => {
  const f = (path: string, label: string, hint?: string, placeholder?: string) =>
    schemaField(runConfigSchema, {
      path,
      label,
      ...(hint === undefined ? {} : { hint }),
      ...(placeholder === undefined ? {} : { placeholder }),
    });
  // Left empty, the service chooses these for the corpus and the time budget (docs/defaults.md).
  const fitted = (path: string, label: string) =>
    schemaField(runConfigSchema, { path, label, placeholder: 'fitted to the corpus', blank: true });

  const name = h('input', {
    attrs: { name: 'name', type: 'text', placeholder: 'e.g. shakespeare', autocomplete: 'off' },
  });
  name.dataset.kind = 'string';
  const text = h('textarea', {
    class: 'mono',
    attrs: {
      name: 'corpus-text',
      rows: '12',
      spellcheck: 'false',
      placeholder: 'Paste the training text here…',
    },
  });
  const file = h('input', { attrs: { type: 'file', name: 'corpus-file', accept: '.txt,text/plain' } });
  const size = h('span', {
    class: 'hint',
    text: 'Paste text or choose a plain-text file; a file wins over pasted text.',
  });
  const describe = () => {
    const chosen = file.files?.[0];
    size.textContent =
      chosen !== undefined
        ? `File: ${chosen.name} (${num(chosen.size)} bytes)`
        : text.value.length > 0
          ? `${num(new Blob([text.value]).size)} bytes pasted`
          : 'Paste text or choose a plain-text file; a file wins over pasted text.';
  };
  text.addEventListener('input', describe);
  file.addEventListener('change', describe);

  const submit = h('button', { class: 'button primary', text: 'Start training', attrs: { type: 'submit' } });
  // One key per filled-in form: a double submit (or a retry after a lost answer) is one job.
  let idempotencyKey = crypto.randomUUID();

  const group = (title: string, ...fields: HTMLElement[]) =>
    h('fieldset', { class: 'group' }, h('legend', { text: title }), h('div', { class: 'grid' }, ...fields));

  const form = h(
    'form',
    { class: 'job-form', attrs: { novalidate: '', id: 'job-form' } },
    h('div', { class: 'form-banner' }),
    h(
      'div',
      { class: 'columns' },
      h(
        'section',
        { class: 'card' },
        h('h2', { text: 'Corpus' }),
        field('name', 'Name', name, 'Shown in the jobs list; the model gets it too.'),
        h(
          'div',
          { class: 'field', data: { path: 'corpus' } },
          h('span', { class: 'label', text: 'Training text' }),
          text,
          file,
          size,
          h('span', { class: 'field-error', attrs: { 'aria-live': 'polite' } }),
        ),
      ),
      h(
        'section',
        { class: 'card' },
        h('h2', { text: 'Settings' }),
        group(
          'Tokenizer',
          f('tokenizer.type', 'Tokenizer'),
          f('tokenizer.vocabSize', 'Vocabulary size', 'bpe target / word cap', 'from the corpus'),
        ),
        group(
          'Model',
          f('model.cell', 'Cell'),
          fitted('model.layers', 'Layers'),
          fitted('model.hiddenSize', 'Hidden size'),
          fitted('model.embeddingSize', 'Embedding size'),
          fitted('model.dropout', 'Dropout'),
        ),
        group(
          'Training',
          f('training.seqLength', 'Sequence length'),
          f('training.truncation.mode', 'Truncation'),
          f('training.partition', 'Partitioning'),
          f('training.epochs', 'Epochs', 'a cap', 'no cap'),
          f('training.maxMinutes', 'Time budget', 'minutes', 'service default (10)'),
          fitted('training.batchSize', 'Batch size'),
          fitted('training.learningRate', 'Learning rate'),
          f('training.maxSteps', 'Max steps', undefined, 'no cap'),
          f('training.evalEvery', 'Evaluate every', 'steps', 'service default'),
          f('training.seed', 'Seed', undefined, 'random'),
        ),
        h('div', { class: 'actions' }, submit),
      ),
    ),
  );

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      clearErrors(form);
      submit.disabled = true;
      submit.textContent = 'Submitting…';
      try {
        const data = new FormData();
        data.append('config', JSON.stringify(collect(form)));
        const chosen = file.files?.[0];
        data.append(
          'corpus',
          chosen ?? new Blob([text.value], { type: 'text/plain' }),
          chosen?.name ?? 'corpus.txt',
        );
        const res = await request('/jobs', {
          method: 'POST',
          body: data,
          headers: { 'idempotency-key': idempotencyKey },
        });
        const job = (await res.json()) as Job;
        idempotencyKey = crypto.randomUUID();
        location.hash = `#/jobs/${job.id}`;
      } catch (err) {
        // An answer means no job was made with this key; a lost request keeps it for the retry.
        if (err instanceof ApiError) idempotencyKey = crypto.randomUUID();
        showError(form, err);
      } finally {
        submit.disabled = false;
        submit.textContent = 'Start training';
      }
    })();
  });

  replaceChildren(
    root,
    pageHead({
      title: 'New training job',
      subtitle: 'Defaults are the API’s own; leave a field empty to let the service choose.',
    }),
    form,
  );
};
