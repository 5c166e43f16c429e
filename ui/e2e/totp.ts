import { createHmac } from 'node:crypto';

/** base32 decodes RFC 4648 base32 (spaces and padding ignored). */
function base32(s: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = s.replace(/[\s=]/g, '').toUpperCase();
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const c of clean) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`bad base32 character ${c}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** totp computes the RFC 6238 code (SHA-1, 6 digits, 30 s) for a step offset from now. */
export function totp(secret: string, offsetSteps = 0, now = Date.now()): string {
  const step = Math.floor(now / 30_000) + offsetSteps;
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const h = createHmac('sha1', base32(secret)).update(msg).digest();
  const o = (h[h.length - 1] ?? 0) & 0x0f;
  const n = (h.readUInt32BE(o) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, '0');
}

/** freshTotp waits, if needed, for a time step later than `after`, so a code is never a replay. */
export async function freshTotp(secret: string, after: number): Promise<{ code: string; step: number }> {
  for (;;) {
    const step = Math.floor(Date.now() / 30_000);
    if (step > after) return { code: totp(secret), step };
    await new Promise((r) => setTimeout(r, 500));
  }
}
