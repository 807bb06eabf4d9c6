// @ts-check
/** The request log: filters, pages that follow a cursor, CSV of what the filter finds. */
import { useState } from 'preact/hooks';
import { api, download, query } from '../api.js';
import { t } from '../i18n.js';
import { creditsText, Field, html, Notice, Pager, Table, useLoad, when } from '../ui.js';

/** @typedef {import('../types.d.ts').RequestRow} RequestRow */
/** @typedef {{ email?: string, license?: string, model?: string, upstream?: string, status?: string, from?: string, to?: string }} Filter */

const FILTERS = /** @type {const} */ (['email', 'license', 'model', 'upstream', 'status']);

/** A `datetime-local` value is the browser's local time; the API takes an instant. */
const instant = (/** @type {string | undefined} */ local) =>
  local ? new Date(local).toISOString() : undefined;

/** @param {{ filter: Filter, round?: number }} props `round` grows when the operator asks again. */
export function RequestTable({ filter, round = 0 }) {
  const [cursors, setCursors] = useState(/** @type {(number | undefined)[]} */ ([undefined]));
  const params = { ...filter, from: instant(filter.from), to: instant(filter.to) };
  const filterKey = JSON.stringify(params);
  const [shownFor, setShownFor] = useState(filterKey);
  if (shownFor !== filterKey) {
    setShownFor(filterKey);
    setCursors([undefined]);
  }
  const before = cursors.at(-1);
  const { data, error } = useLoad(async () => {
    /** @type {{ requests: RequestRow[], next: number | null }} */
    const page = await api(`/api/v1/requests${query({ ...params, limit: 50, before })}`);
    return page;
  }, [filterKey, before, round]);
  return html`<${Notice} error=${error} />
    <${Table}
      caption=${t('requests')}
      rows=${data?.requests}
      columns=${[
        { label: t('time'), value: (r) => when(r.time) },
        { label: t('license'), value: (r) => r.license ?? '' },
        { label: t('model'), value: (r) => r.model ?? '' },
        { label: t('upstream'), value: (r) => r.upstream ?? '' },
        {
          label: t('status'),
          value: (r) => (r.error_code ? `${r.status} ${r.error_code}` : r.status),
          numeric: true,
        },
        { label: t('latency'), value: (r) => r.latency_ms, numeric: true },
        { label: t('ttft'), value: (r) => r.ttft_ms ?? '', numeric: true },
        {
          label: t('tokens'),
          value: (r) =>
            r.prompt_tokens === undefined
              ? ''
              : `${r.prompt_tokens} / ${r.completion_tokens ?? 0}${r.estimated ? ` (${t('estimated')})` : ''}`,
          numeric: true,
        },
        { label: t('credits'), value: (r) => creditsText(r.credits), numeric: true },
      ]}
    />
    <${Pager}
      cursors=${cursors}
      setCursors=${setCursors}
      next=${data?.next}
      onExport=${() => download(`/api/v1/requests${query({ ...params, format: 'csv', limit: 1000 })}`, 'requests.csv')}
    />`;
}

/** @param {{ initial: Filter }} props */
export function Requests({ initial }) {
  const [filter, setFilter] = useState(/** @type {Filter} */ (initial));
  // Filtering again with the same filter asks again: new requests may have finished since.
  const [round, setRound] = useState(0);
  /** @param {SubmitEvent} event */
  const submit = (event) => {
    event.preventDefault();
    const fields = new FormData(/** @type {HTMLFormElement} */ (event.currentTarget));
    /** @type {Filter} */
    const next = {};
    for (const name of [...FILTERS, 'from', 'to']) {
      const value = String(fields.get(name) ?? '').trim();
      if (value) next[/** @type {keyof Filter} */ (name)] = value;
    }
    setFilter(next);
    setRound(round + 1);
  };
  return html`<h1>${t('requests')}</h1>
    <form class="row" onSubmit=${submit} aria-label=${t('filter')}>
      ${FILTERS.map((name) => html`<${Field} id=${name} label=${t(name)} defaultValue=${filter[name] ?? ''} type=${name === 'status' ? 'number' : 'text'} />`)}
      <${Field} id="from" label=${t('from')} type="datetime-local" defaultValue=${filter.from ?? ''} />
      <${Field} id="to" label=${t('to')} type="datetime-local" defaultValue=${filter.to ?? ''} />
      <button type="submit">${t('filter')}</button>
    </form>
    <${RequestTable} filter=${filter} round=${round} />`;
}
