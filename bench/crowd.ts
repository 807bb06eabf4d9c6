/**
 * The crowd of the felt bench's (b), in a process of its own: `streams` streams held open (500 a second),
 * their tokens read as they come. Kept apart from the process that times new streams beside them, as a
 * user's client is not the one reading everybody else's tokens: otherwise the timer's own event loop,
 * busy with the crowd's tokens, would delay what it times.
 * Its argument: the target and the number of streams, as JSON. It says `opened` over IPC once all are
 * sent, then ends when they have, with exit code 1 if any of them failed.
 */
import { chatBody, closeClient, post, type Target } from './client.ts';

const { target, streams } = JSON.parse(process.argv[2]!) as { target: Target; streams: number };
const failures: unknown[] = [];
const open: Promise<unknown>[] = [];
for (let i = 0; i < streams; i++) {
  open.push(post(target, { body: chatBody(true), since: performance.now() }).catch((e) => failures.push(e)));
  if (i % 50 === 49) await new Promise((r) => setTimeout(r, 100));
}
process.send!('opened');
await Promise.all(open);
// A stream refused or cut off would leave the memory per open stream divided by streams that were not open.
if (failures.length > 0) {
  console.error(`${failures.length} of ${streams} streams failed, the first: ${String(failures[0])}`);
  process.exitCode = 1;
}
closeClient();
// The bench may have ended before the crowd did.
if (process.connected) process.disconnect();
