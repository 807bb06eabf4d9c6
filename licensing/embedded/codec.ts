/** Line codec for the store's files: plain JSON, or AES-256-GCM per line when DATA_ENCRYPTION_KEY is set. */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';

export interface Codec {
  readonly encrypted: boolean;
  encode(value: unknown): string;
  /** A line of JSON text already made (a caller that writes one text in two files encodes it once). */
  encodeJson(json: string): string;
  /** Throws when the line is not readable (torn, or another key). */
  decode<T>(line: string): T;
}

export function plainCodec(): Codec {
  return {
    encrypted: false,
    encode: (value) => JSON.stringify(value),
    encodeJson: (json) => json,
    decode: <T>(line: string) => JSON.parse(line) as T,
  };
}

export function encryptedCodec(secret: string): Codec {
  // The env value may be any passphrase; scrypt turns it into a 256-bit key once, at start-up.
  const key = scryptSync(secret, 'cradle-gateway-store-v1', 32);
  const encodeJson = (json: string) => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const data = Buffer.concat([cipher.update(json, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), data]).toString('base64');
  };
  return {
    encrypted: true,
    encode: (value) => encodeJson(JSON.stringify(value)),
    encodeJson,
    decode<T>(line: string): T {
      const raw = Buffer.from(line, 'base64');
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      const text = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
      return JSON.parse(text) as T;
    },
  };
}
