// @ts-check
/** The console: sign-in, then one page per part of the business, chosen by the URL's fragment. */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, session } from './api.js';
import { language, t, toggleLanguage } from './i18n.js';
import { html, message, Notice } from './ui.js';
import { Overview } from './pages/overview.js';
import { Licenses } from './pages/licenses.js';
import { LicensePage } from './pages/license.js';
import { Requests } from './pages/requests.js';
import { Payments } from './pages/payments.js';
import { Upstreams } from './pages/upstreams.js';
import { Config } from './pages/config.js';

/** @type {[string, 'overview' | 'licenses' | 'requests' | 'payments' | 'upstreams' | 'config'][]} */
const NAV = [
  ['#/', 'overview'],
  ['#/licenses', 'licenses'],
  ['#/requests', 'requests'],
  ['#/payments', 'payments'],
  ['#/upstreams', 'upstreams'],
  ['#/config', 'config'],
];

/** @param {string} hash */
function page(hash) {
  const [path = '', search = ''] = hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(search);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'licenses' && parts[1]) return html`<${LicensePage} licenseKey=${parts[1]} />`;
  if (parts[0] === 'licenses') return html`<${Licenses} />`;
  if (parts[0] === 'requests') return html`<${Requests} initial=${Object.fromEntries(params)} />`;
  if (parts[0] === 'payments') return html`<${Payments} />`;
  if (parts[0] === 'upstreams') return html`<${Upstreams} />`;
  if (parts[0] === 'config') return html`<${Config} />`;
  return html`<${Overview} />`;
}

function SignIn() {
  const [error, setError] = useState(/** @type {string | undefined} */ (undefined));
  /** @param {SubmitEvent} event */
  const submit = async (event) => {
    event.preventDefault();
    const form = /** @type {HTMLFormElement} */ (event.currentTarget);
    session.signIn(String(new FormData(form).get('token') ?? ''));
    try {
      await api('/api/v1/stats?period=day');
      window.dispatchEvent(new Event('cradle-signed-in'));
    } catch (failure) {
      // A token the gateway did not take (wrong, or this address shut out) is not kept for a reload.
      session.signOut();
      setError(failure instanceof ApiError && failure.status === 401 ? t('wrongToken') : message(failure));
    }
  };
  return html`<main class="sign-in">
    <h1>${t('title')}</h1>
    <form onSubmit=${submit}>
      <label for="token"
        >${t('adminToken')}<input
          id="token"
          name="token"
          type="password"
          required
          autocomplete="current-password"
          autofocus
      /></label>
      <button type="submit">${t('signIn')}</button>
      <${Notice} error=${error} />
    </form>
  </main>`;
}

function App() {
  const [hash, setHash] = useState(location.hash);
  const [signedIn, setSignedIn] = useState(Boolean(session.token()));
  const [, setLang] = useState(language());
  useEffect(() => {
    const onHash = () => setHash(location.hash);
    const onIn = () => setSignedIn(true);
    const onOut = () => setSignedIn(false);
    window.addEventListener('hashchange', onHash);
    window.addEventListener('cradle-signed-in', onIn);
    window.addEventListener('cradle-signed-out', onOut);
    return () => {
      window.removeEventListener('hashchange', onHash);
      window.removeEventListener('cradle-signed-in', onIn);
      window.removeEventListener('cradle-signed-out', onOut);
    };
  }, []);
  const switchLanguage = () => {
    toggleLanguage();
    setLang(language());
  };
  const languageButton = html`<button type="button" class="link" onClick=${switchLanguage}>
    ${t('language')}
  </button>`;
  if (!signedIn)
    return html`<div class="top">${languageButton}</div>
      <${SignIn} />`;
  const current = NAV.find(([href]) => href !== '#/' && hash.startsWith(href))?.[0] ?? '#/';
  return html`<header>
      <strong>${t('title')}</strong>
      <nav aria-label=${t('title')}>
        ${NAV.map(
          ([href, name]) =>
            html`<a href=${href} aria-current=${href === current ? 'page' : undefined}>${t(name)}</a>`,
        )}
      </nav>
      ${languageButton}
      <button type="button" class="link" onClick=${() => session.signOut()}>${t('signOut')}</button>
    </header>
    <main>${page(hash)}</main>`;
}

document.documentElement.lang = language() === 'zh' ? 'zh-CN' : 'en';
render(html`<${App} />`, /** @type {HTMLElement} */ (document.getElementById('app')));
