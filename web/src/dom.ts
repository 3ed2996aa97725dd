/** Small DOM helpers: the page is built from elements, never from HTML strings. */

type Child = Node | string | number | null | undefined | false;

export interface Props {
  class?: string;
  text?: string;
  /** `data-*` attributes. */
  data?: Record<string, string>;
  attrs?: Record<string, string>;
  on?: Partial<{ [K in keyof HTMLElementEventMap]: (event: HTMLElementEventMap[K]) => void }>;
}

/** `h('div', { class: 'card' }, child, ...)`: an element with its props and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props.class !== undefined) el.className = props.class;
  if (props.text !== undefined) el.textContent = props.text;
  for (const [k, v] of Object.entries(props.data ?? {})) el.dataset[k] = v;
  for (const [k, v] of Object.entries(props.attrs ?? {})) el.setAttribute(k, v);
  for (const [type, listener] of Object.entries(props.on ?? {})) {
    el.addEventListener(type, listener as EventListener);
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** A number for display: `—` when there is none, else a few significant digits. */
export function num(value: number | null | undefined, digits = 4): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return Number(value.toPrecision(digits)).toString();
}

/** `3 min ago`, or the date for older times. */
export function ago(iso: string | undefined): string {
  if (iso === undefined) return '—';
  const then = Date.parse(iso);
  if (!Number.isFinite(then)) return iso;
  const s = Math.max(0, Math.round((Date.now() - then) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(then).toLocaleDateString('en-US', { year: 'numeric', month: 'short', day: 'numeric' });
}

export function duration(fromIso: string | undefined, toIso: string | undefined): string {
  if (fromIso === undefined) return '—';
  const ms = (toIso === undefined ? Date.now() : Date.parse(toIso)) - Date.parse(fromIso);
  if (!Number.isFinite(ms)) return '—';
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}

/** A status pill: `queued`, `running`, `succeeded`, `failed`, `cancelled`. */
export function badge(status: string): HTMLSpanElement {
  return h('span', { class: `badge badge-${status}`, text: status, data: { status } });
}

/** A progress bar; its width is set through the CSSOM, which the page's CSP allows. */
export function progressBar(fraction: number, status?: string): HTMLDivElement {
  const fill = h('div', { class: `progress-fill${status === undefined ? '' : ` progress-${status}`}` });
  fill.style.width = `${Math.round(Math.max(0, Math.min(1, fraction)) * 1000) / 10}%`;
  return h('div', { class: 'progress', attrs: { role: 'progressbar' } }, fill);
}

/** A banner for errors the page cannot put beside a field. */
export function banner(message: string, kind: 'error' | 'info' = 'error'): HTMLDivElement {
  return h('div', { class: `banner banner-${kind}`, text: message, attrs: { role: 'alert' } });
}
