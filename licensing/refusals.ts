/** Refusals every money path gives alike: the proxy plugins and the license API. */
import { GatewayError } from '../gateway/errors.ts';

export const licenseRevoked = () => new GatewayError(403, 'LICENSE_REVOKED', 'this license has been revoked');

/** 402: the balance cannot cover `what`. */
export const insufficientCredits = (message: string) =>
  new GatewayError(402, 'INSUFFICIENT_CREDITS', message);
