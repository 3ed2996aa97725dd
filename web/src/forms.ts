/**
 * Form fields built from the API's schemas (defaults, choices, bounds), and the API's 400
 * answers shown beside the fields they name.
 */
import { ApiError } from './api.js';
import { banner, h } from './dom.js';
import { defaultText, fieldSchema, type JsonSchema } from './schema.js';

export interface FieldOptions {
  /** The field's path in the request (`model.hiddenSize`), as the API names it in a 400. */
  path: string;
  label: string;
  hint?: string;
  /** What an empty optional field means (`service default`, `no limit`). */
  placeholder?: string;
  step?: string;
  /** Leave the field empty instead of showing the schema's default: the service chooses it. */
  blank?: boolean;
}

/** A labelled control whose value, default and choices come from `root`'s field at `path`. */
export function schemaField(root: JsonSchema, options: FieldOptions): HTMLLabelElement {
  const schema = fieldSchema(root, options.path);
  let control: HTMLInputElement | HTMLSelectElement;
  if (schema.enum !== undefined) {
    control = h(
      'select',
      { attrs: { name: options.path } },
      ...schema.enum.map((v) => h('option', { text: String(v), attrs: { value: String(v) } })),
    );
    control.value = defaultText(schema);
  } else {
    const numeric = schema.type === 'integer' || schema.type === 'number';
    control = h('input', {
      attrs: { name: options.path, type: numeric ? 'number' : 'text', autocomplete: 'off' },
    });
    if (numeric) {
      control.step = options.step ?? (schema.type === 'integer' ? '1' : 'any');
      if (schema.minimum !== undefined) control.min = String(schema.minimum);
      if (schema.maximum !== undefined && schema.maximum < Number.MAX_SAFE_INTEGER) {
        control.max = String(schema.maximum);
      }
    }
    control.value = options.blank === true ? '' : defaultText(schema);
    if (options.placeholder !== undefined) control.placeholder = options.placeholder;
  }
  control.dataset.kind = schema.type ?? 'string';
  return field(options.path, options.label, control, options.hint);
}

/** A labelled control with room for its error; `data-path` ties it to the API's field paths. */
export function field(path: string, label: string, control: HTMLElement, hint?: string): HTMLLabelElement {
  return h(
    'label',
    { class: 'field', data: { path } },
    h('span', { class: 'label', text: label }),
    control,
    hint === undefined ? null : h('span', { class: 'hint', text: hint }),
    h('span', { class: 'field-error', attrs: { 'aria-live': 'polite' } }),
  );
}

/**
 * The form's values as a nested object (`{ model: { hiddenSize: 16 } }`): numeric fields as
 * numbers (what the browser could not read as one is sent as text, for the API to refuse),
 * empty fields left out so the API applies its defaults.
 */
export function collect(form: HTMLElement): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const control of form.querySelectorAll<HTMLInputElement | HTMLSelectElement>('[name]')) {
    if (control.dataset.kind === undefined) continue;
    const text = control.value.trim();
    if (text.length === 0) continue;
    const numeric = control.dataset.kind === 'integer' || control.dataset.kind === 'number';
    const value = numeric && Number.isFinite(Number(text)) ? Number(text) : text;
    const keys = control.name.split('.');
    let node = out;
    for (const key of keys.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
    node[keys.at(-1) ?? control.name] = value;
  }
  return out;
}

export function clearErrors(form: HTMLElement): void {
  for (const el of form.querySelectorAll('.field.invalid')) el.classList.remove('invalid');
  for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
  form.querySelector('.form-banner')?.replaceChildren();
}

/**
 * Shows an error: each field of a 400 beside its control (the API's paths start with the
 * request part, `body.` / `body.config.` / `querystring.`, which the form's paths leave out);
 * whatever no control claims goes in the form's banner.
 */
export function showError(form: HTMLElement, err: unknown): void {
  clearErrors(form);
  const unplaced: string[] = [];
  const fields = err instanceof ApiError ? err.fields : [];
  for (const f of fields) {
    const target = findField(form, f.path.replace(/^(body\.config|body|querystring)\./, ''));
    if (target === undefined) {
      unplaced.push(`${f.path}: ${f.message}`);
      continue;
    }
    target.classList.add('invalid');
    const slot = target.querySelector('.field-error');
    if (slot !== null)
      slot.textContent = slot.textContent === '' ? f.message : `${slot.textContent}; ${f.message}`;
  }
  if (fields.length === 0) unplaced.push(err instanceof Error ? err.message : String(err));
  const slot = form.querySelector('.form-banner');
  if (unplaced.length > 0 && slot !== null) slot.replaceChildren(banner(unplaced.join('\n')));
  form
    .querySelector<HTMLElement>('.field.invalid input, .field.invalid select, .field.invalid textarea')
    ?.focus();
}

/** The field at `path`, else the nearest enclosing one (`training.truncation.p` → `training.truncation`). */
function findField(form: HTMLElement, path: string): HTMLElement | undefined {
  const parts = path.split('.');
  while (parts.length > 0) {
    const el = form.querySelector<HTMLElement>(`.field[data-path="${CSS.escape(parts.join('.'))}"]`);
    if (el !== null) return el;
    parts.pop();
  }
  return undefined;
}
