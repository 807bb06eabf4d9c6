// @ts-check
/** The config in force (secrets masked) and how the last reload went, with its error and line. */
import { api } from '../api.js';
import { t } from '../i18n.js';
import { html, Notice, useLoad, when } from '../ui.js';

/** @typedef {import('../types.d.ts').ConfigStatus} ConfigStatus */

/** @param {{ reload: ConfigStatus['last_reload'] }} props */
function LastReload({ reload }) {
  if (!reload) return html`<p>${t('noReload')}</p>`;
  if (!reload.ok)
    return html`<p class="notice error" role="alert">
      ${when(reload.at)} — ${t('reloadFailed')}: <code>${reload.error}</code>
    </p>`;
  return html`<p class="notice ok" role="status">
    ${when(reload.at)} —
    ${t('reloadOk')}${reload.restart_needed ? ` ${t('restartNeeded')}: ${reload.restart_needed.join(', ')}` : ''}
  </p>`;
}

export function Config() {
  const { data, error } = useLoad(async () => {
    /** @type {ConfigStatus} */
    const status = await api('/api/v1/config');
    return status;
  }, []);
  return html`<h1>${t('config')}</h1>
    <${Notice} error=${error} />
    ${
      data &&
      html`<dl class="facts">
          <div>
            <dt>${t('file')}</dt>
            <dd><code>${data.file}</code></dd>
          </div>
          <div>
            <dt>${t('loadedAt')}</dt>
            <dd>${when(data.loaded_at)}</dd>
          </div>
        </dl>
        <h2>${t('lastReload')}</h2>
        <${LastReload} reload=${data.last_reload} />
        <pre class="yaml" tabindex="0" aria-label=${t('config')}>${data.yaml}</pre>`
    }`;
}
