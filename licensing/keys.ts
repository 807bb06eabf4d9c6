import { createHash, randomInt } from 'node:crypto';

/** No 0/O, 1/I/L: a key read aloud or typed from a screenshot is unambiguous. */
const ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';

/** `CRDL-XXXX-XXXX-XXXX-XXXX` from a CSPRNG (about 99 bits). */
export function generateLicenseKey(): string {
  const blocks: string[] = [];
  for (let b = 0; b < 4; b++) {
    let block = '';
    for (let i = 0; i < 4; i++) block += ALPHABET[randomInt(ALPHABET.length)];
    blocks.push(block);
  }
  return `CRDL-${blocks.join('-')}`;
}

/** `CRDL-****-****-****-7F3K`: enough for a user to recognise their key, useless to anyone else. */
export function maskLicenseKey(key: string): string {
  const parts = key.split('-');
  if (parts.length < 2) return '****';
  return parts.map((part, i) => (i === 0 || i === parts.length - 1 ? part : '****')).join('-');
}

/** A stable, non-secret name for a key (file names, metric labels): never the key itself. */
export function keyDigest(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}
