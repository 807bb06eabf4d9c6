// @ts-check
/** The config in force (secrets masked) and how the last reload went, with its error and line. */
import { api } from '../api.js';
import { t } from '../i18n.js';
import { html, Notice, Tiles, useLoad, when } from '../ui.js';

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
      html`<${Tiles}
          kind="facts"
          items=${[
            [t('file'), html`<code>${data.file}</code>`],
            [t('loadedAt'), when(data.loaded_at)],
          ]}
        />
        <h2>${t('lastReload')}</h2>
        <${LastReload} reload=${data.last_reload} />
        <pre class="yaml" tabindex="0" aria-label=${t('config')}>${data.yaml}</pre>`
    }`;
}
