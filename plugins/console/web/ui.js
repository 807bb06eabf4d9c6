// @ts-check
/** The pieces every page is made of: markup, tables, charts, loading and errors. */
import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';
import uPlot from 'uplot';
import { ApiError } from './api.js';
import { t } from './i18n.js';

export const html = htm.bind(h);

/**
 * Loads with `load` whenever `deps` change; `reload` loads again.
 * @template T
 * @param {() => Promise<T>} load
 * @param {unknown[]} deps
 * @returns {{ data: T | undefined, error: string | undefined, reload: () => void }}
 */
export function useLoad(load, deps) {
  const [data, setData] = useState(/** @type {T | undefined} */ (undefined));
  const [error, setError] = useState(/** @type {string | undefined} */ (undefined));
  const [round, setRound] = useState(0);
  useEffect(() => {
    let current = true;
    setError(undefined);
    load().then(
      (value) => current && setData(value),
      (failure) => current && setError(message(failure)),
    );
    return () => {
      current = false;
    };
  }, [...deps, round]);
  return { data, error, reload: () => setRound(round + 1) };
}

/** @param {unknown} error */
export function message(error) {
  if (error instanceof ApiError) return `${error.message}${error.code ? ` (${error.code})` : ''}`;
  return error instanceof Error ? error.message : String(error);
}

/** @param {{ error?: string, ok?: string }} props */
export function Notice({ error, ok }) {
  if (error) return html`<p class="notice error" role="alert">${error}</p>`;
  if (ok) return html`<p class="notice ok" role="status">${ok}</p>`;
  return null;
}

/**
 * @typedef {{ label: string, value: (row: never) => unknown, numeric?: boolean }} Column
 * @param {{ caption: string, columns: Column[], rows: unknown[] | undefined }} props
 */
export function Table({ caption, columns, rows }) {
  if (!rows) return html`<p aria-busy="true">${t('loading')}</p>`;
  return html`<div class="table-wrap" tabindex="0" role="region" aria-label=${caption}>
    <table>
      <caption>
        ${caption}
      </caption>
      <thead>
        <tr>
          ${columns.map((c) => html`<th scope="col" class=${c.numeric ? 'num' : ''}>${c.label}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${
          rows.length === 0
            ? html`<tr>
                <td colspan=${columns.length}>${t('notFound')}</td>
              </tr>`
            : rows.map(
                (row) =>
                  html`<tr>
                    ${columns.map((c) => html`<td class=${c.numeric ? 'num' : ''}>${c.value(/** @type {never} */ (row))}</td>`)}
                  </tr>`,
              )
        }
      </tbody>
    </table>
  </div>`;
}

/**
 * A labelled form control; `input` props go to the <input>.
 * @param {{ label: string, id: string } & Record<string, unknown>} props
 */
export function Field({ label, id, ...input }) {
  return html`<label for=${id}>${label}<input id=${id} name=${id} ...${input} /></label>`;
}

/**
 * Time series over bucket names (`2026-12-06T14` or `2026-12-06`), shown as the operator's wall time.
 * @param {{ title: string, x: string[], series: { label: string, values: number[] }[] }} props
 */
export function Chart({ title, x, series }) {
  const box = useRef(/** @type {HTMLDivElement | null} */ (null));
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const times = x.map(
      (name) => Date.parse(name.length === 10 ? `${name}T00:00:00Z` : `${name}:00:00Z`) / 1000,
    );
    const colours = ['#2563eb', '#dc2626', '#16a34a'];
    const plot = new uPlot(
      {
        width: element.clientWidth,
        height: 220,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
        series: [
          {},
          ...series.map((s, i) => ({ label: s.label, stroke: colours[i % colours.length], width: 2 })),
        ],
        axes: [{}, { size: 60 }],
      },
      [times, ...series.map((s) => s.values)],
      element,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: element.clientWidth, height: 220 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [x.join(), JSON.stringify(series)]);
  return html`<figure class="chart">
    <figcaption>${title}</figcaption>
    <div ref=${box} role="img" aria-label=${title}></div>
  </figure>`;
}

/** One key per click: a second submit of the same click is a replay the API answers without charging. */
export const idempotencyKey = () => `console-${crypto.randomUUID()}`;

/** @param {string | undefined} iso */
export const when = (iso) => (iso ? new Date(iso).toLocaleString() : '');

/** @param {number} credits */
export const creditsText = (credits) => credits.toLocaleString(undefined, { maximumFractionDigits: 6 });

/**
 * Newest / Older buttons over pages that follow a cursor (`cursors` ends with the one shown), and the CSV
 * export of what the filter finds.
 * @param {{ cursors: (number | undefined)[], setCursors: (cursors: (number | undefined)[]) => void, next: number | null | undefined, onExport: () => void }} props
 */
export function Pager({ cursors, setCursors, next, onExport }) {
  return html`<div class="row">
    <button type="button" disabled=${cursors.length === 1} onClick=${() => setCursors([undefined])}>
      ${t('newest')}
    </button>
    <button type="button" disabled=${!next} onClick=${() => setCursors([...cursors, next ?? undefined])}>
      ${t('older')}
    </button>
    <button type="button" onClick=${onExport}>${t('exportCsv')}</button>
  </div>`;
}

/**
 * Labelled figures in tiles.
 * @param {{ kind: 'figures' | 'facts', items: [string, unknown][], busy?: boolean }} props
 */
export function Tiles({ kind, items, busy }) {
  return html`<dl class=${kind} aria-busy=${busy ? 'true' : undefined}>
    ${items.map(
      ([label, value]) =>
        html`<div>
          <dt>${label}</dt>
          <dd>${value}</dd>
        </div>`,
    )}
  </dl>`;
}
