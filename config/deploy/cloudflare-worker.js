// A Cloudflare Worker in front of the gateway (the seed shipped one). It passes only the gateway's public
// paths to the origin (the admin API, /metrics and the console stay off the internet), answers CORS itself
// for the origins it is told, streams answers unbuffered (SSE), and hands the client's address on as
// CF-Connecting-IP. The gateway believes that header only with BEHIND_CLOUDFLARE=true and TRUST_PROXY naming
// the peers it comes from (Cloudflare's published ranges, or the proxy between).
//
// Worker variables: ORIGIN (e.g. https://origin.example.com), ALLOWED_ORIGINS (browser origins allowed by
// CORS, comma-separated, `*` for any; empty: no CORS), ALLOW_PATHS (comma-separated, replaces the list
// below; an entry ending in `/` is a prefix).

const PUBLIC_PATHS = [
  '/v1/',
  '/api/chat/completion',
  '/api/huggingface/completion',
  '/api/v1/health',
  '/api/v1/pricing',
  '/api/v1/license/verify',
  '/api/v1/license/balance/',
  '/api/v1/payment/notify',
];

const REQUEST_HEADERS =
  'Authorization, Content-Type, X-License-Key, X-Device-Id, X-Request-Id, Idempotency-Key';
const EXPOSED_HEADERS = 'X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, Retry-After';

const list = (text) =>
  String(text ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

function isPublic(pathname, env) {
  const paths = env.ALLOW_PATHS ? list(env.ALLOW_PATHS) : PUBLIC_PATHS;
  return paths.some((path) => (path.endsWith('/') ? pathname.startsWith(path) : pathname === path));
}

/** The CORS headers this request's Origin earns: none for an origin not allowed, or no Origin at all. */
function corsHeaders(request, env) {
  const origin = request.headers.get('Origin');
  const allowed = list(env.ALLOWED_ORIGINS);
  if (!origin || !(allowed.includes('*') || allowed.includes(origin))) return {};
  return {
    'Access-Control-Allow-Origin': allowed.includes('*') ? '*' : origin,
    'Access-Control-Expose-Headers': EXPOSED_HEADERS,
    Vary: 'Origin',
  };
}

function notFound(cors) {
  const body = JSON.stringify({ success: false, error: 'not found', code: 'NOT_FOUND' });
  return new Response(body, {
    status: 404,
    headers: { 'Content-Type': 'application/json; charset=utf-8', ...cors },
  });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const cors = corsHeaders(request, env);
    if (!isPublic(url.pathname, env)) return notFound(cors);
    if (request.method === 'OPTIONS' && request.headers.has('Access-Control-Request-Method')) {
      return new Response(null, {
        status: 204,
        headers: {
          ...cors,
          'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
          'Access-Control-Allow-Headers': REQUEST_HEADERS,
          'Access-Control-Max-Age': '86400',
        },
      });
    }
    const origin = new URL(env.ORIGIN);
    url.protocol = origin.protocol;
    url.host = origin.host;
    const headers = new Headers(request.headers);
    headers.set('X-Forwarded-Proto', 'https');
    // Cloudflare sets CF-Connecting-IP on every request it takes (a client cannot choose it): passed on.
    // An X-Forwarded-For the client wrote is not.
    headers.delete('X-Forwarded-For');
    const response = await fetch(url, {
      method: request.method,
      headers,
      body: request.method === 'GET' || request.method === 'HEAD' ? undefined : request.body,
      redirect: 'manual',
    });
    // The body is handed on as a stream: an SSE answer reaches the client event by event.
    const answer = new Response(response.body, response);
    for (const [name, value] of Object.entries(cors)) answer.headers.set(name, value);
    return answer;
  },
};
