import { LRUCache } from 'lru-cache';

/** lru-cache's bound on keys and values: anything but null and undefined. */
type Present = NonNullable<unknown>;

type GrowingLruOptions<K extends Present, V extends Present> = { entries: number } & Pick<
  LRUCache.Options<K, V, unknown>,
  'ttl' | 'ttlResolution'
>;

/**
 * An LRU cache of at most `entries` entries whose memory grows with use. lru-cache's `max` allocates its
 * arrays for every entry up front: the paid chain's caches held ~12 MB of empty slots, and a live heap that
 * size made V8 run a full collection (pauses of 3–10 ms, as much again in marking steps) every few seconds
 * under load. Bounded by size instead (each entry counts 1), lru-cache grows its arrays as entries come.
 */
export function growingLru<K extends Present, V extends Present>(
  options: GrowingLruOptions<K, V>,
): LRUCache<K, V> {
  const { entries, ...rest } = options;
  return new LRUCache<K, V>({ ...rest, maxSize: entries, sizeCalculation: countOne });
}

const countOne = () => 1;
