import { ApiError, getJson, openEvents, request, sendJson } from '../api.js';
import { ago, banner, h, num, replaceChildren } from '../dom.js';
import { clearErrors, collect, field, showError } from '../forms.js';
import type { GenerateResult, Model, ScoreResult, View } from '../types.js';
import { localRun } from './local-run.js';
import { pageHead } from './page-head.js';
import { samplingForm } from './sampling-form.js';

function fact(label: string, value: string): HTMLElement {
  return h(
    'div',
    { class: 'stat' },
    h('div', { class: 'stat-label', text: label }),
    h('div', { class: 'stat-value', text: value }),
  );
}

/** The model this one was fine-tuned from, linked. */
function baseFact(id: string): HTMLElement {
  return h(
    'div',
    { class: 'stat' },
    h('div', { class: 'stat-label', text: 'Fine-tuned from' }),
    h('a', { class: 'stat-value mono', text: id, attrs: { href: `#/models/${id}`, id: 'base-model' } }),
  );
}

/** Log-probabilities at or below this are coloured as the most surprising. */
const SURPRISING_LOGPROB = -6;

/**
 * A token's background by its log-probability: green (likely) through amber to red (at or
 * below {@link SURPRISING_LOGPROB}), set through the CSSOM as the page's CSP requires.
 */
function tokenSpan(token: string, logprob: number): HTMLSpanElement {
  const p = Math.exp(logprob);
  const hue = Math.round(120 * Math.min(1, Math.max(0, 1 - logprob / SURPRISING_LOGPROB)));
  const span = h('span', { class: 'token', text: token, data: { logprob: logprob.toFixed(3) } });
  span.title = `${JSON.stringify(token)}  log p = ${logprob.toFixed(3)}  (p = ${p.toFixed(3)})`;
  span.style.backgroundColor = `hsl(${hue} 85% 82%)`;
  return span;
}

function playground(model: Model): HTMLElement {
  const output = h('div', { class: 'generated mono', attrs: { id: 'generated', 'aria-live': 'polite' } });
  const info = h('div', { class: 'muted small', attrs: { id: 'generate-info' } });
  // Every generation keeps its recurrent state; "Continue" goes on from the last one, reading
  // only the new prompt (the model's whole context is that state).
  let kept: GenerateResult['state'];
  const resume = h('button', {
    class: 'button',
    text: 'Continue',
    attrs: {
      type: 'button',
      id: 'continue-generate',
      title: 'Go on from the last state: only the new prompt is read',
    },
  });
  const forget = h('button', {
    class: 'button ghost',
    text: 'Forget state',
    attrs: { type: 'button', id: 'forget-state' },
  });
  const stateInfo = h('div', { class: 'muted small', attrs: { id: 'state-info' } });
  const showState = (state: GenerateResult['state']) => {
    kept = state;
    resume.disabled = state === undefined;
    forget.disabled = state === undefined;
    stateInfo.textContent =
      state === undefined
        ? ''
        : `State ${state.id} · ${state.tokens} tokens read · kept until ${new Date(state.expiresAt).toLocaleString()}`;
    if (state === undefined) delete stateInfo.dataset.state;
    else stateInfo.dataset.state = state.id;
  };
  showState(undefined);
  forget.addEventListener('click', () => {
    const id = kept?.id;
    showState(undefined);
    // Forgetting is a courtesy to the store: the state expires anyway.
    if (id !== undefined) void request(`/states/${id}`, { method: 'DELETE' }).catch(() => undefined);
  });

  const sampling = samplingForm({
    id: 'generate-form',
    runLabel: 'Generate',
    actions: [forget],
    nextToRun: [resume],
  });
  const { form, prompt } = sampling;
  // The form's one submit button starts afresh; "Continue" submits it from the kept state.
  let continuing = false;
  resume.addEventListener('click', () => {
    continuing = true;
    form.requestSubmit();
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const from = continuing ? kept : undefined;
    continuing = false;
    void (async () => {
      clearErrors(form);
      const signal = sampling.start();
      resume.disabled = true;
      const promptText = prompt.value;
      const promptSpan = h('span', { class: 'prompt-text', text: promptText });
      if (from === undefined) replaceChildren(output, promptSpan);
      else output.append(promptSpan);
      delete output.dataset.done;
      info.textContent = from === undefined ? 'Generating…' : 'Continuing…';
      output.dataset.tokens = '0';
      const started = performance.now();
      let tokens = 0;
      try {
        const body = {
          ...collect(form),
          prompt: promptText,
          model: model.id,
          stream: true,
          saveState: true,
          ...(from === undefined ? {} : { state: from.id }),
        };
        const events = await openEvents('/generate', { method: 'POST', body, signal });
        for await (const message of events) {
          const data = JSON.parse(message.data) as Record<string, unknown>;
          if (message.event === 'token') {
            tokens++;
            output.append(h('span', { class: 'gen-token', text: String(data.text) }));
            output.dataset.tokens = String(tokens);
          } else if (message.event === 'done') {
            const result = data as unknown as GenerateResult;
            const seconds = (performance.now() - started) / 1000;
            const unknown =
              result.unknownTokens > 0
                ? ` · ${result.unknownTokens} prompt token${result.unknownTokens === 1 ? '' : 's'} not in the vocabulary (read as <unk>)`
                : '';
            info.textContent = `${result.tokens} tokens in ${seconds.toFixed(1)} s · finished: ${result.finishReason}${unknown}`;
            info.dataset.unknownTokens = String(result.unknownTokens);
            showState(result.state);
            output.dataset.done = result.finishReason;
          } else if (message.event === 'error') {
            throw new ApiError(Number(data.statusCode ?? 500), String(data.code), String(data.message));
          }
        }
      } catch (err) {
        if (signal.aborted) info.textContent = `Stopped after ${tokens} tokens.`;
        else {
          info.textContent = '';
          // An expired or deleted state cannot be continued: start afresh next time.
          if (err instanceof ApiError && err.code === 'RNNLM_STATE_NOT_FOUND') showState(undefined);
          showError(form, err);
        }
      } finally {
        sampling.finish();
        resume.disabled = kept === undefined;
      }
    })();
  });
  return h('section', { class: 'card' }, h('h2', { text: 'Generate' }), form, output, info, stateInfo);
}

function scoring(model: Model): HTMLElement {
  const text = h('textarea', {
    class: 'mono',
    attrs: { name: 'text', rows: '4', spellcheck: 'false', placeholder: 'Text to score…' },
  });
  text.dataset.kind = 'string';
  const results = h('div', { class: 'score-results', attrs: { id: 'score-results' } });
  const submit = h('button', { class: 'button primary', text: 'Score', attrs: { type: 'submit' } });
  const form = h(
    'form',
    { attrs: { novalidate: '', id: 'score-form' } },
    h('div', { class: 'form-banner' }),
    field(
      'text',
      'Text',
      text,
      'Each token is coloured by how likely the model found it: green likely, red surprising.',
    ),
    h('div', { class: 'actions' }, submit),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      clearErrors(form);
      submit.disabled = true;
      try {
        const r = await sendJson<ScoreResult>('POST', '/score', {
          model: model.id,
          text: text.value,
          details: true,
        });
        replaceChildren(
          results,
          h(
            'div',
            { class: 'stats' },
            fact('Perplexity', num(r.perplexity)),
            fact('Bits / char', num(r.bitsPerChar)),
            fact('Mean NLL', num(r.meanNll)),
            fact('Tokens', String(r.tokens)),
            fact('Characters', String(r.characters)),
            fact('Not in vocabulary', String(r.unknownTokens)),
          ),
          h(
            'div',
            { class: 'scored mono', attrs: { id: 'scored-text' } },
            ...(r.tokenLogprobs ?? []).map((t) => tokenSpan(t.token, t.logprob)),
          ),
          h(
            'div',
            { class: 'legend small muted' },
            'likely ',
            ...[0, 0.2, 0.4, 0.6, 0.8, 1].map((x) => tokenSpan(' ', x * SURPRISING_LOGPROB)),
            ' surprising',
          ),
        );
        results.dataset.perplexity = String(r.perplexity);
      } catch (err) {
        showError(form, err);
      } finally {
        submit.disabled = false;
      }
    })();
  });
  return h('section', { class: 'card' }, h('h2', { text: 'Score' }), form, results);
}

/** `#/models/ID`: the model, a generation playground streaming tokens, and a scoring box. */
export const modelView: View = async (root, signal, id) => {
  let model: Model;
  try {
    model = await getJson<Model>(`/models/${encodeURIComponent(id)}`, { signal });
  } catch (err) {
    if (!signal.aborted)
      replaceChildren(root, banner(`Could not load model ${id}: ${(err as Error).message}`));
    return;
  }
  const m = model.config.model;
  replaceChildren(
    root,
    pageHead({
      title: model.name,
      parent: { label: 'Models', href: '#/models', id: model.id },
      actions: [
        model.jobId === null
          ? null
          : h('a', { class: 'button ghost', text: 'Training job', attrs: { href: `#/jobs/${model.jobId}` } }),
      ],
    }),
    h(
      'section',
      { class: 'card' },
      h(
        'div',
        { class: 'stats' },
        fact('Architecture', `${m.cell.toUpperCase()} ${m.layers}×${m.hiddenSize}`),
        fact('Tokenizer', `${model.tokenizer.type} · ${model.tokenizer.vocabSize}`),
        fact('Parameters', num(model.parameters)),
        fact('Best val perplexity', num(model.metrics.best.valPerplexity)),
        fact('Bits / char', num(model.metrics.best.valBitsPerChar)),
        fact('Created', ago(model.createdAt)),
        model.baseModel === null ? null : baseFact(model.baseModel),
      ),
    ),
    h('div', { class: 'columns' }, playground(model), scoring(model)),
    localRun(model),
  );
};
