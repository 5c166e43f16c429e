import * as RD from '@radix-ui/react-dialog';
import { useLayoutEffect, useRef, type ReactNode } from 'react';

interface DialogProps {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  title: string;
  description?: ReactNode;
  children: ReactNode;
  /** false: Escape and clicks outside do not close it (a secret shown once). */
  dismissible?: boolean;
  wide?: boolean;
}

/** Dialog is a modal with a focus trap; focus returns to what opened it when it closes. */
export function Dialog({ open, onOpenChange, title, description, children, dismissible = true, wide = false }: DialogProps) {
  // Opened from code rather than a Radix Trigger, the dialog remembers what
  // had focus and gives it back on close.
  const opener = useRef<HTMLElement | null>(null);
  useLayoutEffect(() => {
    if (open && document.activeElement instanceof HTMLElement && document.activeElement !== document.body) opener.current = document.activeElement;
  }, [open]);
  return (
    <RD.Root open={open} onOpenChange={onOpenChange}>
      <RD.Portal>
        <RD.Overlay className="fixed inset-0 z-40 bg-gray-900/60" />
        <RD.Content
          onEscapeKeyDown={(e) => !dismissible && e.preventDefault()}
          onPointerDownOutside={(e) => !dismissible && e.preventDefault()}
          onInteractOutside={(e) => !dismissible && e.preventDefault()}
          onCloseAutoFocus={(e) => {
            const el = opener.current;
            opener.current = null;
            if (el?.isConnected) {
              e.preventDefault();
              el.focus();
            }
          }}
          {...(description ? {} : { 'aria-describedby': undefined })}
          className={`fixed left-1/2 top-1/2 z-50 max-h-[90vh] w-[calc(100vw-2rem)] -translate-x-1/2 -translate-y-1/2 overflow-y-auto rounded-lg bg-white p-5 shadow-xl focus:outline-none dark:bg-gray-900 dark:ring-1 dark:ring-gray-700 ${wide ? 'max-w-2xl' : 'max-w-md'}`}
        >
          <RD.Title className="text-lg font-semibold text-gray-900 dark:text-gray-100">{title}</RD.Title>
          {description && <RD.Description className="mt-1 text-sm text-gray-600 dark:text-gray-300">{description}</RD.Description>}
          <div className="mt-4">{children}</div>
          {dismissible && (
            <RD.Close
              className="absolute right-3 top-3 rounded p-1 text-gray-500 hover:bg-gray-100 focus-visible:outline-2 focus-visible:outline-indigo-600 dark:text-gray-400 dark:hover:bg-gray-800"
              aria-label="Close"
            >
              <svg viewBox="0 0 20 20" className="h-5 w-5" fill="currentColor" aria-hidden="true">
                <path d="M6.3 5 5 6.3 8.7 10 5 13.7 6.3 15l3.7-3.7 3.7 3.7 1.3-1.3-3.7-3.7L15 6.3 13.7 5 10 8.7z" />
              </svg>
            </RD.Close>
          )}
        </RD.Content>
      </RD.Portal>
    </RD.Root>
  );
}

export const DialogClose = RD.Close;
