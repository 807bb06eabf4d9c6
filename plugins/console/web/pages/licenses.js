// @ts-check
/** Licenses: find one by email or key, list them page by page, create one. */
import { useState } from 'preact/hooks';
import { api, query } from '../api.js';
import { t } from '../i18n.js';
import { creditsText, Field, html, message, Notice, Table, useLoad, when } from '../ui.js';

/** @typedef {import('../types.d.ts').License} License */

const PAGE = 50;

/** @param {string} key */
export const licenseHref = (key) => `#/licenses/${encodeURIComponent(key)}`;

function Search() {
  const [error, setError] = useState(/** @type {string | undefined} */ (undefined));
  /** @param {SubmitEvent} event */
  const submit = async (event) => {
    event.preventDefault();
    const text = String(
      new FormData(/** @type {HTMLFormElement} */ (event.currentTarget)).get('q') ?? '',
    ).trim();
    try {
      /** @type {{ license_key: string }} */
      const found = text.includes('@')
        ? await api(`/api/v1/license/balance/${encodeURIComponent(text)}`)
        : (await api(`/api/v1/license/info/${encodeURIComponent(text)}`)).license_info;
      location.hash = licenseHref(found.license_key);
    } catch (failure) {
      setError(message(failure));
    }
  };
  return html`<form class="row" role="search" onSubmit=${submit}>
    <${Field} id="q" label=${t('searchHint')} type="search" required />
    <button type="submit">${t('search')}</button>
    <${Notice} error=${error} />
  </form>`;
}

function Create({ onCreated }) {
  const [error, setError] = useState(/** @type {string | undefined} */ (undefined));
  const [busy, setBusy] = useState(false);
  /** @param {SubmitEvent} event */
  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(/** @type {HTMLFormElement} */ (event.currentTarget));
    setBusy(true);
    try {
      /** @type {{ license_key: string }} */
      const created = await api('/api/v1/license/generate', {
        method: 'POST',
        body: {
          email: form.get('email'),
          credits: Number(form.get('credits') || 0),
          max_devices: Number(form.get('max_devices') || 1),
        },
      });
      onCreated();
      location.hash = licenseHref(created.license_key);
    } catch (failure) {
      setError(message(failure));
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="card" onSubmit=${submit} aria-labelledby="create-title">
    <h2 id="create-title">${t('create')}</h2>
    <div class="row">
      <${Field} id="email" label=${t('email')} type="email" required />
      <${Field} id="credits" label=${t('credits')} type="number" min="0" step="any" defaultValue="0" />
      <${Field} id="max_devices" label=${t('maxDevices')} type="number" min="1" step="1" defaultValue="1" />
      <button type="submit" disabled=${busy}>${t('create')}</button>
    </div>
    <${Notice} error=${error} />
  </form>`;
}

export function Licenses() {
  const [offset, setOffset] = useState(0);
  const { data, error, reload } = useLoad(async () => {
    /** @type {{ licenses: License[] }} */
    const answer = await api(`/api/v1/license/list${query({ limit: PAGE, offset })}`);
    return answer.licenses;
  }, [offset]);
  return html`<h1>${t('licenses')}</h1>
    <${Search} />
    <${Create} onCreated=${reload} />
    <${Notice} error=${error} />
    <${Table}
      caption=${t('licenses')}
      rows=${data}
      columns=${[
        { label: t('email'), value: (l) => html`<a href=${licenseHref(l.license_key)}>${l.email}</a>` },
        { label: t('key'), value: (l) => html`<code>${l.license_key}</code>` },
        { label: t('status'), value: (l) => t(l.status) },
        { label: t('balance'), value: (l) => creditsText(l.credits), numeric: true },
        { label: t('devices'), value: (l) => `${l.devices.length} / ${l.max_devices}`, numeric: true },
        { label: t('updated'), value: (l) => when(l.last_updated_at) },
      ]}
    />
    <div class="row">
      <button type="button" disabled=${offset === 0} onClick=${() => setOffset(0)}>${t('newest')}</button>
      <button type="button" disabled=${!data || data.length < PAGE} onClick=${() => setOffset(offset + PAGE)}>
        ${t('older')}
      </button>
    </div>`;
}
