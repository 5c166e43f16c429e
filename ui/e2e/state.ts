import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const here = dirname(fileURLToPath(import.meta.url));
export const statePath = join(here, '.state', 'state.json');
export const screenshotDir = join(here, 'screenshots');

/** State is what global-setup provisioned on the server for the specs. */
export interface State {
  baseURL: string;
  pid: number;
  dataDir: string;
  admin: { email: string; password: string };
  adminKey: string;
  customer: { email: string; password: string; name: string; teamId: number };
  /** A second customer who turned on MFA; its TOTP secret lets the specs compute codes. */
  mfaCustomer: { email: string; password: string; secret: string };
  /** A customer without MFA, who turns it on in the account spec. */
  enrolCustomer: { email: string; password: string };
  /** An unused invitation token, for the sign-up spec. */
  inviteToken: string;
  productName: string;
}

export function loadState(): State {
  return JSON.parse(readFileSync(statePath, 'utf8')) as State;
}
