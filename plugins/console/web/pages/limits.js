// @ts-check
/** A license's own limits: the models it may call and its requests a minute; empty fields clear them. */
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { t } from '../i18n.js';
import { Field, html, message, Notice } from '../ui.js';

/** @typedef {import('../types.d.ts').License} License */

/** @param {{ license: License, onChange: () => void }} props */
export function Limits({ license, onChange }) {
  const [notice, setNotice] = useState(/** @type {{ error?: string, ok?: string }} */ ({}));
  /** @param {SubmitEvent} event */
  const save = async (event) => {
    event.preventDefault();
    const fields = new FormData(/** @type {HTMLFormElement} */ (event.currentTarget));
    const models = String(fields.get('models') ?? '')
      .split(',')
      .map((glob) => glob.trim())
      .filter(Boolean);
    const rate = String(fields.get('rate') ?? '').trim();
    try {
      await api(`/api/v1/license/limits/${encodeURIComponent(license.license_key)}`, {
        method: 'POST',
        body: {
          models: models.length > 0 ? models : null,
          rate_limit_per_minute: rate ? Number(rate) : null,
        },
      });
      setNotice({ ok: t('done') });
      onChange();
    } catch (failure) {
      setNotice({ error: message(failure) });
    }
  };
  return html`<form class="card" onSubmit=${save} aria-labelledby="limits-title">
    <h2 id="limits-title">${t('limits')}</h2>
    <div class="row">
      <${Field}
        id="models"
        label=${t('modelsAllowed')}
        placeholder=${t('anyModel')}
        defaultValue=${license.limits?.models?.join(', ') ?? ''}
      />
      <${Field}
        id="rate"
        label=${t('ratePerMinute')}
        type="number"
        min="1"
        step="1"
        defaultValue=${license.limits?.rate_limit_per_minute ?? ''}
      />
      <button type="submit">${t('save')}</button>
    </div>
    <${Notice} ...${notice} />
  </form>`;
}
