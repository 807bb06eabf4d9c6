// @ts-check
/** Upstreams: each Space's health, requests in flight, latency and failures; today's figures per upstream. */
import { api } from '../api.js';
import { t } from '../i18n.js';
import { html, Notice, Table, useLoad } from '../ui.js';

/** @typedef {import('../types.d.ts').SpaceUsage} SpaceUsage */
/** @typedef {import('../types.d.ts').Stats} Stats */

const percent = (/** @type {number} */ part, /** @type {number} */ whole) =>
  whole ? `${((part / whole) * 100).toFixed(1)} %` : '—';

export function Upstreams() {
  const { data, error } = useLoad(async () => {
    /** @type {[{ spaces: SpaceUsage[] }, Stats]} */
    const [spaces, today] = await Promise.all([
      api('/api/huggingface/spaces/usage'),
      api('/api/v1/stats?period=day&dimension=upstream'),
    ]);
    return { spaces: spaces.spaces, today: today.stats.filter((row) => row.bucket === today.to) };
  }, []);
  return html`<h1>${t('upstreams')}</h1>
    <${Notice} error=${error} />
    <${Table}
      caption=${t('errorRate')}
      rows=${data?.today}
      columns=${[
        { label: t('upstream'), value: (row) => row.key },
        { label: t('requestsSeries'), value: (row) => row.requests, numeric: true },
        { label: t('errorRate'), value: (row) => percent(row.errors, row.requests), numeric: true },
        { label: t('latency'), value: (row) => row.latency_ms_avg, numeric: true },
      ]}
    />
    <${Table}
      caption="Hugging Face Spaces"
      rows=${data?.spaces}
      columns=${[
        { label: t('name'), value: (s) => s.name },
        {
          label: t('status'),
          value: (s) =>
            s.cooling_down_s
              ? `${t('coolingDown')} (${s.cooling_down_s} s)`
              : t(s.healthy ? 'healthy' : 'unhealthy'),
        },
        { label: t('inFlight'), value: (s) => s.in_flight, numeric: true },
        { label: t('requestsSeries'), value: (s) => s.requests, numeric: true },
        { label: t('failures'), value: (s) => s.failures, numeric: true },
        { label: t('latency'), value: (s) => s.latency_ms, numeric: true },
      ]}
    />`;
}
