/** safeNext returns the in-app path to go to after sign-in; anything else (another origin, //host) is "/". */
export function safeNext(raw: string | null | undefined): string {
  if (!raw || !raw.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\')) return '/';
  try {
    const u = new URL(raw, 'http://x.invalid');
    if (u.origin !== 'http://x.invalid') return '/';
    return u.pathname + u.search + u.hash;
  } catch {
    return '/';
  }
}
