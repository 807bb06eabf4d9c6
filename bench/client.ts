/** The bench's client: one POST of a chat, timed to its first byte and its end. */
import { Agent, request } from 'node:http';

export interface Target {
  name: string;
  url: string;
  headers: Record<string, string>;
}

const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
/** The chat every bench asks for. */
export const chatBody = (stream: boolean) =>
  JSON.stringify({ model: 'openai/gpt-4o-mini', stream, messages: [{ role: 'user', content: 'Hello' }] });

/**
 * One POST; resolves with the time to its first body byte and to its end, from `since`. With `firstOnly`
 * it resolves at the first byte and leaves (a user who only wanted to see the answer start).
 */
export function post(
  target: Target,
  options: { body: string; since: number; firstOnly?: boolean },
): Promise<{ first: number; end: number }> {
  return new Promise((resolve, reject) => {
    const req = request(target.url, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', ...target.headers },
    });
    req.on('response', (res) => {
      if (res.statusCode !== 200) reject(new Error(`${target.name}: status ${res.statusCode}`));
      let first = 0;
      res.on('data', () => {
        if (first) return;
        first = performance.now() - options.since;
        if (!options.firstOnly) return;
        resolve({ first, end: first });
        req.destroy();
      });
      res.on('end', () => resolve({ first, end: performance.now() - options.since }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * Lets the client's idle keep-alive connections go: after a phase of load, so that the next phase never
 * sends a request on one a server is closing on its own clock as it goes out ("socket hang up"), and at the
 * end, so that the process can end.
 */
export function closeClient(): void {
  agent.destroy();
}
