import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

import { h, num } from './dom.js';

/**
 * One live line chart (uPlot) of a metric against the training step. Points arrive one at a
 * time; a step at or before the last one (a job resumed from a checkpoint) replaces the tail.
 * The card's `data-points` attribute counts the points drawn.
 */
export class LineChart {
  readonly element: HTMLElement;
  readonly #plot: uPlot;
  readonly #xs: number[] = [];
  readonly #ys: number[] = [];
  readonly #value: HTMLElement;
  readonly #resize: ResizeObserver;

  constructor(id: string, title: string, color: string, unit = '') {
    this.#value = h('span', { class: 'chart-value', text: '—' });
    const target = h('div', { class: 'chart-plot' });
    this.element = h(
      'section',
      { class: 'card chart', data: { chart: id, points: '0' } },
      h('header', { class: 'chart-head' }, h('h3', { text: title }), this.#value),
      target,
    );
    this.#plot = new uPlot(
      {
        width: 400,
        height: 190,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: false } },
        axes: [
          { stroke: '#6b7280', grid: { stroke: '#eef0f4' }, ticks: { stroke: '#e5e7eb' }, size: 32 },
          {
            stroke: '#6b7280',
            grid: { stroke: '#eef0f4' },
            ticks: { stroke: '#e5e7eb' },
            size: 56,
            values: (_u, ticks) => ticks.map((t) => num(t, 3) + unit),
          },
        ],
        series: [
          { label: 'step' },
          { label: title, stroke: color, width: 2, fill: `${color}14`, points: { size: 5, fill: color } },
        ],
      },
      [[], []],
      target,
    );
    this.#resize = new ResizeObserver(() => {
      const width = Math.floor(target.clientWidth);
      if (width > 0 && width !== this.#plot.width) this.#plot.setSize({ width, height: 190 });
    });
    this.#resize.observe(target);
  }

  add(step: number, value: number | null | undefined): void {
    if (value === null || value === undefined || !Number.isFinite(value)) return;
    while (this.#xs.length > 0 && (this.#xs.at(-1) ?? 0) >= step) {
      this.#xs.pop();
      this.#ys.pop();
    }
    this.#xs.push(step);
    this.#ys.push(value);
    this.#plot.setData([this.#xs, this.#ys]);
    this.#value.textContent = num(value);
    this.element.dataset.points = String(this.#xs.length);
  }

  destroy(): void {
    this.#resize.disconnect();
    this.#plot.destroy();
  }
}
