import { describe, expect, it, vi } from 'vitest';
import { compact, credits, date, dateTime, integer, money, toMicro } from './format';
import { csvCell, toCSV } from './csv';
import { markNavigation, takeNavigationFocus } from './focus';
import { applyStyleNonce } from './nonce';
import { downloadText } from './download';

describe('format', () => {
  it('credits and toMicro round-trip', () => {
    expect(credits(1_500_000)).toBe('1.5');
    expect(credits(1_234_567_890, 2)).toBe('1,234.57');
    expect(toMicro('12.5')).toBe(12_500_000);
    expect(toMicro('1,000')).toBe(1_000_000_000);
    expect(toMicro('0.000001')).toBe(1);
    for (const bad of ['', 'abc', '1.2.3', '1.1234567', '-1', '1e3']) expect(toMicro(bad)).toBeNull();
  });

  it('money uses the currency minor unit', () => {
    expect(money(1999, 'usd')).toBe('$19.99');
    expect(money(500, 'jpy')).toBe('¥500');
    expect(money(100, 'zzz-bad')).toBe('1.00 ZZZ-BAD');
  });

  it('dates', () => {
    expect(dateTime(undefined)).toBe('—');
    expect(dateTime('garbage')).toBe('—');
    expect(dateTime('2020-01-02T03:04:05Z')).toContain('2020');
    expect(dateTime(new Date().toISOString())).not.toContain(String(new Date().getFullYear()));
    expect(date(null)).toBe('—');
    expect(date('bad')).toBe('—');
    expect(date('2020-01-02T12:00:00Z')).toContain('2020');
    expect(compact(12_300)).toBe('12.3K');
    expect(integer(1234567)).toBe('1,234,567');
  });
});

describe('csv', () => {
  it('quotes and defuses formulas', () => {
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('=SUM(A1)')).toBe("'=SUM(A1)");
    expect(csvCell(null)).toBe('');
    expect(toCSV(['a', 'b'], [[1, 'x']])).toBe('a,b\r\n1,x\r\n');
  });
});

describe('focus after navigation', () => {
  it('focuses once per navigation', () => {
    const el = document.createElement('h1');
    el.tabIndex = -1;
    document.body.append(el);
    expect(takeNavigationFocus(el)).toBe(false);
    markNavigation();
    expect(takeNavigationFocus(null)).toBe(false);
    expect(takeNavigationFocus(el)).toBe(true);
    expect(document.activeElement).toBe(el);
    expect(takeNavigationFocus(el)).toBe(false);
    el.remove();
  });
});

describe('nonce', () => {
  it('reads the page nonce, ignoring the unrendered placeholder', () => {
    const doc = document.implementation.createHTMLDocument();
    expect(applyStyleNonce(doc)).toBe('');
    const meta = doc.createElement('meta');
    meta.setAttribute('property', 'csp-nonce');
    meta.setAttribute('nonce', 'abc123');
    doc.head.append(meta);
    expect(applyStyleNonce(doc)).toBe('abc123');
  });
});

describe('download', () => {
  it('saves through a blob URL and revokes it', () => {
    vi.useFakeTimers();
    const create = vi.fn(() => 'blob:x');
    const revoke = vi.fn();
    Object.assign(URL, { createObjectURL: create, revokeObjectURL: revoke });
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(() => {});
    downloadText('a.txt', 'hello');
    expect(click).toHaveBeenCalled();
    vi.runAllTimers();
    expect(revoke).toHaveBeenCalledWith('blob:x');
    vi.useRealTimers();
  });
});
