// @ts-check
/** Payments credited (trade numbers, amounts, licenses) and the mail outbox, with a retry for mail given up. */
import { useState } from 'preact/hooks';
import { api, query } from '../api.js';
import { t } from '../i18n.js';
import { creditsText, html, message, Notice, Table, useLoad, when } from '../ui.js';
import { licenseHref } from './licenses.js';

/** @typedef {import('../types.d.ts').Payment} Payment */
/** @typedef {import('../types.d.ts').Mail} Mail */

const STATES = /** @type {const} */ (['dead', 'pending', 'sent']);

function Outbox() {
  const [state, setState] = useState(/** @type {(typeof STATES)[number]} */ ('dead'));
  const [notice, setNotice] = useState(/** @type {{ error?: string, ok?: string }} */ ({}));
  const { data, error, reload } = useLoad(async () => {
    /** @type {{ mails: Mail[] }} */
    const answer = await api(`/api/v1/mail${query({ state, limit: 100 })}`);
    return answer.mails;
  }, [state]);
  /** @param {string} id */
  const retry = async (id) => {
    try {
      await api(`/api/v1/mail/${encodeURIComponent(id)}/retry`, { method: 'POST' });
      setNotice({ ok: t('done') });
      reload();
    } catch (failure) {
      setNotice({ error: message(failure) });
    }
  };
  return html`<section aria-labelledby="mail-title">
    <h2 id="mail-title">${t('mail')}</h2>
    <div class="row" role="group" aria-label=${t('state')}>
      ${STATES.map(
        (name) =>
          html`<button type="button" aria-pressed=${state === name} onClick=${() => setState(name)}>
            ${t(name)}
          </button>`,
      )}
    </div>
    <${Notice} error=${error ?? notice.error} ok=${notice.ok} />
    <${Table}
      caption=${`${t('mail')}: ${t(state)}`}
      rows=${data}
      columns=${[
        { label: t('time'), value: (m) => when(m.queued_at) },
        { label: t('email'), value: (m) => m.to },
        { label: t('subject'), value: (m) => m.subject },
        { label: t('attempts'), value: (m) => m.attempts, numeric: true },
        { label: t('lastError'), value: (m) => m.last_error ?? '' },
        {
          label: t('retry'),
          value: (m) =>
            m.state === 'dead'
              ? html`<button
                  type="button"
                  onClick=${() => retry(m.id)}
                  aria-label=${`${t('retry')}: ${m.to}`}
                >
                  ${t('retry')}
                </button>`
              : '',
        },
      ]}
    />
  </section>`;
}

export function Payments() {
  const { data, error } = useLoad(async () => {
    /** @type {{ payments: Payment[] }} */
    const answer = await api('/api/v1/payments?limit=100');
    return answer.payments;
  }, []);
  return html`<h1>${t('payments')}</h1>
    <${Notice} error=${error} />
    <${Table}
      caption=${t('payments')}
      rows=${data}
      columns=${[
        { label: t('time'), value: (p) => when(p.time) },
        { label: t('tradeNo'), value: (p) => html`<code>${p.trade_no}</code>` },
        { label: t('email'), value: (p) => html`<a href=${licenseHref(p.license_key)}>${p.email}</a>` },
        { label: t('credits'), value: (p) => creditsText(p.credits), numeric: true },
      ]}
    />
    <${Outbox} />`;
}
