/**
 * The crowd of the felt bench's (b), in a process of its own: `streams` streams held open (500 a second),
 * their tokens read as they come. Kept apart from the process that times new streams beside them, as a
 * user's client is not the one reading everybody else's tokens: otherwise the timer's own event loop,
 * busy with the crowd's ten thousand tokens a second, would delay what it times.
 * Its argument: the target and the number of streams, as JSON. It says `opened` over IPC once all are
 * sent, then ends when they have.
 */
import { closeClient, post, type Target } from './client.ts';

const { target, streams } = JSON.parse(process.argv[2]!) as { target: Target; streams: number };
const open: Promise<unknown>[] = [];
for (let i = 0; i < streams; i++) {
  open.push(post(target, { stream: true, since: performance.now() }).catch(() => undefined));
  if (i % 50 === 49) await new Promise((r) => setTimeout(r, 100));
}
process.send!('opened');
await Promise.all(open);
closeClient();
process.disconnect();
