// Focus after client-side navigation: a full page load resets focus, a
// router navigation does not, so the new page's heading takes it — once the
// (lazily loaded) page has rendered it.

let pending = false;

/** markNavigation records that the next page heading to mount should take focus. */
export function markNavigation(): void {
  pending = true;
}

/** takeNavigationFocus focuses el if a navigation is pending; true when it did. */
export function takeNavigationFocus(el: HTMLElement | null): boolean {
  if (!pending || !el) return false;
  pending = false;
  el.focus();
  return true;
}
