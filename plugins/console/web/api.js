// @ts-check
/** The admin API as the console calls it: the token from sessionStorage, errors as ApiError. */

const TOKEN_KEY = 'cradle-admin-token';

export const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY),
  /** @param {string} token */
  signIn: (token) => sessionStorage.setItem(TOKEN_KEY, token),
  signOut: () => {
    sessionStorage.removeItem(TOKEN_KEY);
    window.dispatchEvent(new Event('cradle-signed-out'));
  },
};

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   * @param {string | undefined} code
   */
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * @typedef {{ method?: string, body?: unknown, idempotencyKey?: string }} CallOptions
 */

/**
 * @param {string} path
 * @param {CallOptions} [options]
 * @returns {Promise<Response>}
 */
async function send(path, options = {}) {
  /** @type {Record<string, string>} */
  const headers = { 'x-admin-token': session.token() ?? '' };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
  const res = await fetch(path, {
    method: options.method ?? 'GET',
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  if (res.status === 401) session.signOut();
  if (!res.ok) {
    const answer = await res.json().catch(() => ({}));
    throw new ApiError(res.status, answer.error ?? res.statusText, answer.code);
  }
  return res;
}

/**
 * The JSON answer of an admin route; `T` is its shape (types.d.ts).
 * @template T
 * @param {string} path
 * @param {CallOptions} [options]
 * @returns {Promise<T>}
 */
export async function api(path, options) {
  return (await send(path, options)).json();
}

/**
 * Saves a CSV export as one file, every page of it (each page's `X-Next-Cursor` asks for the next; the
 * header line is kept once). The token is a header, so a plain link cannot fetch it.
 * @param {string} path with a query string
 * @param {string} filename
 */
export async function download(path, filename) {
  /** @type {string[]} */
  const parts = [];
  for (let cursor = /** @type {string | null} */ (''); cursor !== null;) {
    const res = await send(cursor ? `${path}&before=${encodeURIComponent(cursor)}` : path);
    const text = await res.text();
    parts.push(parts.length === 0 ? text : text.slice(text.indexOf('\r\n') + 2));
    cursor = res.headers.get('x-next-cursor');
  }
  const blob = new Blob(parts, { type: 'text/csv;charset=utf-8' });
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

/** @param {Record<string, string | number | undefined>} params */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params))
    if (value !== undefined && value !== '') search.set(name, String(value));
  const text = search.toString();
  return text ? `?${text}` : '';
}
