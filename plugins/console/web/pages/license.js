// @ts-check
/** One license: balance, devices, the operator's actions on it, its ledger and its requests. */
import { useState } from 'preact/hooks';
import { api, download, query } from '../api.js';
import { t } from '../i18n.js';
import {
  creditsText,
  Field,
  html,
  idempotencyKey,
  message,
  Notice,
  Pager,
  Table,
  Tiles,
  useLoad,
  when,
} from '../ui.js';
import { Limits } from './limits.js';
import { RequestTable } from './requests.js';

/** @typedef {import('../types.d.ts').License} License */
/** @typedef {import('../types.d.ts').LedgerEntry} LedgerEntry */

/** @param {{ license: License, onChange: () => void }} props */
function Actions({ license, onChange }) {
  const [notice, setNotice] = useState(/** @type {{ error?: string, ok?: string }} */ ({}));
  const [busy, setBusy] = useState(false);
  // One key for one intended change: a double click or a resend of it is a replay the API answers without
  // changing the balance again. Editing the form, or a change that went through, makes a new key.
  const [changeKey, setChangeKey] = useState(idempotencyKey);
  const key = encodeURIComponent(license.license_key);
  /** @param {() => Promise<unknown>} action */
  const run = async (action) => {
    setBusy(true);
    try {
      await action();
      setNotice({ ok: t('done') });
      onChange();
    } catch (failure) {
      setNotice({ error: message(failure) });
    } finally {
      setBusy(false);
    }
  };
  /** @param {SubmitEvent} event */
  const change = (event) => {
    event.preventDefault();
    const form = /** @type {HTMLFormElement} */ (event.currentTarget);
    const submitter = /** @type {HTMLButtonElement | null} */ (event.submitter);
    const fields = new FormData(form);
    const action = submitter?.value === 'deduct' ? 'deduct' : 'recharge';
    const request = {
      method: 'POST',
      body: {
        license_key: license.license_key,
        amount: Number(fields.get('amount')),
        ...(fields.get('reason') ? { reference: String(fields.get('reason')) } : {}),
      },
      idempotencyKey: `${changeKey}-${action}`,
    };
    const path = action === 'deduct' ? '/api/v1/license/deduct' : '/api/v1/license/recharge';
    return run(async () => {
      await api(path, request);
      form.reset();
      setChangeKey(idempotencyKey());
    });
  };
  const revoke = () =>
    confirm(t('confirmRevoke')) && run(() => api(`/api/v1/license/revoke/${key}`, { method: 'POST' }));
  return html`<section class="card" aria-labelledby="actions-title">
    <h2 id="actions-title">${t('recharge')} / ${t('deduct')}</h2>
    <form class="row" onSubmit=${change} onInput=${() => setChangeKey(idempotencyKey())}>
      <${Field} id="amount" label=${t('amount')} type="number" min="0.000001" step="any" required />
      <${Field} id="reason" label=${t('reason')} maxlength="200" />
      <button type="submit" name="action" value="recharge" disabled=${busy}>${t('recharge')}</button>
      <button type="submit" name="action" value="deduct" disabled=${busy}>${t('deduct')}</button>
    </form>
    <div class="row">
      <button
        type="button"
        disabled=${busy}
        onClick=${() => run(() => api(`/api/v1/license/reset-devices/${key}`, { method: 'POST' }))}
      >
        ${t('resetDevices')}
      </button>
      <button type="button" class="danger" disabled=${busy || license.status === 'revoked'} onClick=${revoke}>
        ${t('revoke')}
      </button>
    </div>
    <${Notice} ...${notice} />
  </section>`;
}

/** @param {{ licenseKey: string, round: number }} props */
function Ledger({ licenseKey, round }) {
  const [cursors, setCursors] = useState(/** @type {(number | undefined)[]} */ ([undefined]));
  const before = cursors.at(-1);
  const path = `/api/v1/license/ledger/${encodeURIComponent(licenseKey)}`;
  const { data, error } = useLoad(async () => {
    /** @type {{ entries: LedgerEntry[], next: number | null }} */
    const page = await api(`${path}${query({ limit: 50, before })}`);
    return page;
  }, [licenseKey, before, round]);
  return html`<section aria-labelledby="ledger-title">
    <h2 id="ledger-title">${t('ledger')}</h2>
    <${Notice} error=${error} />
    <${Table}
      caption=${t('ledger')}
      rows=${data?.entries}
      columns=${[
        { label: t('time'), value: (e) => when(e.time) },
        { label: t('kind'), value: (e) => e.kind },
        { label: t('amount'), value: (e) => creditsText(e.amount), numeric: true },
        { label: t('after'), value: (e) => creditsText(e.balance_after), numeric: true },
        { label: t('reference'), value: (e) => e.reference ?? e.trade_no ?? e.model ?? '' },
      ]}
    />
    <${Pager}
      cursors=${cursors}
      setCursors=${setCursors}
      next=${data?.next}
      onExport=${() => download(`${path}?format=csv&limit=1000`, `ledger-${licenseKey}.csv`)}
    />
  </section>`;
}

/** @param {{ licenseKey: string }} props */
export function LicensePage({ licenseKey }) {
  const [round, setRound] = useState(0);
  const { data: license, error } = useLoad(async () => {
    /** @type {{ license_info: License }} */
    const answer = await api(`/api/v1/license/info/${encodeURIComponent(licenseKey)}`);
    return answer.license_info;
  }, [licenseKey, round]);
  if (error)
    return html`<h1>${t('license')}</h1>
      <${Notice} error=${error} />`;
  if (!license) return html`<p aria-busy="true">${t('loading')}</p>`;
  const facts = [
    [t('email'), license.email],
    [t('key'), html`<code>${license.license_key}</code>`],
    [t('status'), t(license.status)],
    [t('balance'), creditsText(license.credits)],
    [t('held'), creditsText(license.held)],
    [
      t('devices'),
      `${license.devices.join(', ') || '—'} (${license.devices.length} / ${license.max_devices})`,
    ],
    [t('issued'), when(license.issued_at)],
    [t('updated'), when(license.last_updated_at)],
  ];
  return html`<h1>${license.email}</h1>
    <${Tiles} kind="facts" items=${facts} />
    <${Actions} license=${license} onChange=${() => setRound(round + 1)} />
    <${Limits} license=${license} onChange=${() => setRound(round + 1)} />
    <${Ledger} licenseKey=${licenseKey} round=${round} />
    <section aria-labelledby="requests-title">
      <h2 id="requests-title">${t('requests')}</h2>
      <${RequestTable} filter=${{ license: license.license_key }} />
    </section>`;
}
