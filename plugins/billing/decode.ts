/**
 * Observers of a compressed answer: they see the decoded bytes. A gateway asks upstreams for plain answers
 * where it reads them, but an upstream may compress anyway (RFC 9110 lets it ignore `identity` unless told
 * `identity;q=0`), and what the client gets is passed on as the upstream sent it.
 */
import {
  brotliDecompressSync,
  constants,
  gunzipSync,
  inflateRawSync,
  inflateSync,
  type ZlibOptions,
} from 'node:zlib';
import type { ResponseObserver } from '../../gateway/plugin.ts';

type Decoder = (bytes: Buffer, options: ZlibOptions) => Buffer;

function inflateEither(bytes: Buffer, options: ZlibOptions): Buffer {
  try {
    return inflateSync(bytes, options);
  } catch {
    // Some servers send `deflate` as the raw format, without the zlib wrapper the name stands for.
    return inflateRawSync(bytes, options);
  }
}

/** The content codings (RFC 9110 §8.4.1) whose answers can be observed decoded. */
const DECODERS = new Map<string, Decoder>([
  ['gzip', gunzipSync],
  ['x-gzip', gunzipSync],
  ['deflate', inflateEither],
  [
    'br',
    (bytes, options) =>
      brotliDecompressSync(bytes, { ...options, finishFlush: constants.BROTLI_OPERATION_FLUSH }),
  ],
]);

/** The coding a `content-encoding` header names, as the decoders name it; `identity` when none. */
const codingOf = (contentEncoding: string | undefined) => contentEncoding?.trim().toLowerCase() ?? 'identity';

/** Whether an answer with this `content-encoding` header is sent as it is (no header, or `identity`). */
export const isUnencoded = (contentEncoding: string | undefined) => codingOf(contentEncoding) === 'identity';

/**
 * `observer` itself for an unencoded answer; otherwise `observer` fed the decoded answer, at its end: the
 * compressed bytes are kept (at most `limit`) and decoded at once. Observers that read usage want the end
 * anyway. Bytes that do not decode, or decode to more than `limit` (a small answer can inflate to gigabytes),
 * leave `observer` with no data, only its end; so does a coding none of the decoders here knows.
 */
export function decodingObserver(
  contentEncoding: string | undefined,
  observer: ResponseObserver,
  options: { limit: number },
): ResponseObserver {
  const coding = codingOf(contentEncoding);
  if (coding === 'identity') return observer;
  const decode = DECODERS.get(coding);
  const kept: Buffer[] = [];
  let size = 0;
  return {
    onData(chunk) {
      if (!decode || size + chunk.length > options.limit) return;
      kept.push(chunk);
      size += chunk.length;
    },
    onEnd(info) {
      let decoded: Buffer | undefined;
      try {
        // Z_SYNC_FLUSH: what arrived is decoded even when the answer was cut short (a client that left).
        const zlib = { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: options.limit };
        decoded = decode?.(Buffer.concat(kept, size), zlib);
      } catch {
        decoded = undefined;
      }
      if (decoded && decoded.length > 0) observer.onData(decoded);
      observer.onEnd?.(info);
    },
  };
}
