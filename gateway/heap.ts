/**
 * V8 hands an allocation site's objects to the old generation once most of them outlive a young-generation
 * collection (allocation-site pretenuring). A proxy's request objects all do: they wait for the upstream
 * across a collection, and die soon after. Handed over, each young collection copies them out of the young
 * generation and its pauses, which set the tail latency under load, grow; the old generation fills with
 * garbage only a full collection clears. The gateway's process turns it off.
 */
import { setFlagsFromString } from 'node:v8';

/** Setting it again (a second gateway in one process) changes nothing. */
export function tuneGarbageCollection(): void {
  setFlagsFromString('--no-allocation-site-pretenuring');
}
