// @ts-check
/** Today's requests, credits charged, errors and active licenses, and charts over 24 hours and 30 days. */
import { api } from '../api.js';
import { t } from '../i18n.js';
import { Chart, creditsText, html, Notice, Tiles, useLoad } from '../ui.js';

/** @typedef {import('../types.d.ts').Stats} Stats */
/** @typedef {import('../types.d.ts').StatRow} StatRow */

/**
 * Every bucket from `from` to `to`, with the figures of those that had requests.
 * @param {Stats} answer
 * @returns {{ names: string[], rows: (StatRow | undefined)[] }}
 */
export function everyBucket(answer) {
  const hourly = answer.period === 'hour';
  const parse = (/** @type {string} */ name) => Date.parse(hourly ? `${name}:00:00Z` : `${name}T00:00:00Z`);
  const step = hourly ? 3600_000 : 86400_000;
  const byBucket = new Map(answer.stats.map((row) => [row.bucket, row]));
  const names = [];
  for (let ms = parse(answer.from); ms <= parse(answer.to) && names.length < 2000; ms += step)
    names.push(new Date(ms).toISOString().slice(0, hourly ? 13 : 10));
  return { names, rows: names.map((name) => byBucket.get(name)) };
}

/** @param {{ title: string, answer: Stats | undefined }} props */
function TrafficChart({ title, answer }) {
  if (!answer) return null;
  const { names, rows } = everyBucket(answer);
  return html`<${Chart}
    title=${title}
    x=${names}
    series=${[
      { label: t('requestsSeries'), values: rows.map((row) => row?.requests ?? 0) },
      { label: t('errorsSeries'), values: rows.map((row) => row?.errors ?? 0) },
      { label: t('creditsSeries'), values: rows.map((row) => row?.credits ?? 0) },
    ]}
  />`;
}

export function Overview() {
  const { data, error } = useLoad(async () => {
    /** @type {[Stats, Stats]} */
    const [days, hours] = await Promise.all([
      api('/api/v1/stats?period=day&dimension=all'),
      api('/api/v1/stats?period=hour&dimension=all'),
    ]);
    /** @type {Stats} */
    const licenses = await api(`/api/v1/stats?period=day&dimension=license&from=${days.to}&to=${days.to}`);
    return { days, hours, active: licenses.stats.length };
  }, []);
  const today = data?.days.stats.find((row) => row.bucket === data.days.to);
  const figures = [
    [t('requestsToday'), String(today?.requests ?? 0)],
    [t('revenueToday'), creditsText(today?.credits ?? 0)],
    [t('errorsToday'), String(today?.errors ?? 0)],
    [t('activeLicenses'), String(data?.active ?? 0)],
  ];
  return html`<h1>${t('overview')}</h1>
    <${Notice} error=${error} />
    <${Tiles} kind="figures" items=${figures} busy=${!data} />
    <${TrafficChart} title=${t('last24h')} answer=${data?.hours} />
    <${TrafficChart} title=${t('last30d')} answer=${data?.days} />`;
}
