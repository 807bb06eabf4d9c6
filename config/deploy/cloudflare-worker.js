// A Cloudflare Worker in front of the gateway (as the seed shipped one): passes requests through to the
// origin, streams responses unbuffered, and hands the client address on as CF-Connecting-IP. The gateway
// believes it only with BEHIND_CLOUDFLARE=true and TRUST_PROXY naming the peers it comes from (Cloudflare's
// published ranges, or the proxy between). Set ORIGIN (e.g. https://origin.example.com) as a Worker variable.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const origin = new URL(env.ORIGIN);
    url.protocol = origin.protocol;
    url.host = origin.host;
    const headers = new Headers(request.headers);
    headers.set('X-Forwarded-Proto', 'https');
    const response = await fetch(url, {
      method: request.method,
      headers,
      body: request.method === 'GET' || request.method === 'HEAD' ? undefined : request.body,
      redirect: 'manual',
    });
    return new Response(response.body, response);
  },
};
