// Formatting of the API's units: micro-credits, minor currency units, dates.

const MICRO = 1_000_000;

/** credits formats micro-credits as credits ("1,234.5"). */
export function credits(micro: number, maxFractionDigits = 6): string {
  return (micro / MICRO).toLocaleString('en-US', { maximumFractionDigits: maxFractionDigits });
}

/** toMicro parses a credits amount typed by the user ("12.5") into micro-credits, or null. */
export function toMicro(input: string): number | null {
  const s = input.trim().replace(/,/g, '');
  const parts = s.split('.');
  const [whole = '', frac = ''] = parts;
  if (parts.length > 2 || !/^\d{1,12}$/.test(whole) || (parts.length === 2 && !/^\d{1,6}$/.test(frac))) return null;
  return Number(whole) * MICRO + Number(frac.padEnd(6, '0'));
}

/** money formats minor units of a currency ("usd", 1999 → "$19.99"). */
export function money(minor: number, currency: string): string {
  const cur = currency.toUpperCase();
  let digits = 2;
  try {
    digits = new Intl.NumberFormat('en-US', { style: 'currency', currency: cur }).resolvedOptions().maximumFractionDigits ?? 2;
    return new Intl.NumberFormat('en-US', { style: 'currency', currency: cur }).format(minor / 10 ** digits);
  } catch {
    return `${(minor / 100).toFixed(2)} ${cur}`;
  }
}

/** dateTime formats an ISO time for a table cell. */
export function dateTime(iso: string | undefined | null): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  const sameYear = d.getFullYear() === new Date().getFullYear();
  return d.toLocaleString('en-US', { ...(sameYear ? {} : { year: 'numeric' }), month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/** date formats an ISO time as a day. */
export function date(iso: string | undefined | null): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  return d.toLocaleDateString('en-US', { year: 'numeric', month: 'short', day: 'numeric' });
}

/** compact formats a count ("12.3K"). */
export function compact(n: number): string {
  return new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 }).format(n);
}

/** integer formats a count with separators. */
export function integer(n: number): string {
  return n.toLocaleString('en-US');
}
