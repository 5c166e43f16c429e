import { setNonce } from 'get-nonce';

/**
 * applyStyleNonce hands the page's CSP nonce (on <meta property="csp-nonce">,
 * set per response by the server) to the libraries that add <style> elements
 * at run time (Radix's scroll lock), so the policy needs no 'unsafe-inline'.
 */
export function applyStyleNonce(doc: Document = document): string {
  const meta = doc.querySelector<HTMLMetaElement>('meta[property="csp-nonce"]');
  const nonce = meta?.nonce || meta?.getAttribute('nonce') || '';
  if (nonce && nonce !== '__CSP_NONCE__') setNonce(nonce);
  return nonce;
}
