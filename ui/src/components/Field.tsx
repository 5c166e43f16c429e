import { useId, type InputHTMLAttributes, type ReactNode, type Ref, type SelectHTMLAttributes } from 'react';

export const inputClass =
  'block w-full rounded-md border-0 bg-white px-3 py-2 text-gray-900 shadow-sm ring-1 ring-inset ring-gray-300 placeholder:text-gray-500 focus:ring-2 focus:ring-inset focus:ring-indigo-600 aria-[invalid=true]:ring-red-500 dark:bg-gray-900 dark:text-gray-100 dark:ring-gray-600 dark:placeholder:text-gray-400 sm:text-sm';

interface FieldProps extends InputHTMLAttributes<HTMLInputElement> {
  label: string;
  hint?: ReactNode;
  error?: string;
  ref?: Ref<HTMLInputElement>;
}

/** Field is a labelled input with its hint and error tied to it for assistive technology. */
export function Field({ label, hint, error, id, ref, className = '', ...rest }: FieldProps) {
  const auto = useId();
  const inputId = id ?? auto;
  const hintId = hint ? `${inputId}-hint` : undefined;
  const errId = error ? `${inputId}-error` : undefined;
  return (
    <div className={className}>
      <label htmlFor={inputId} className="block text-sm font-medium text-gray-900 dark:text-gray-100">
        {label}
      </label>
      <input
        ref={ref}
        id={inputId}
        aria-invalid={error ? true : undefined}
        aria-describedby={[hintId, errId].filter(Boolean).join(' ') || undefined}
        className={`mt-1 ${inputClass}`}
        {...rest}
      />
      {hint && (
        <p id={hintId} className="mt-1 text-xs text-gray-600 dark:text-gray-400">
          {hint}
        </p>
      )}
      {error && (
        <p id={errId} className="mt-1 text-xs text-red-700 dark:text-red-300">
          {error}
        </p>
      )}
    </div>
  );
}

interface SelectProps extends SelectHTMLAttributes<HTMLSelectElement> {
  label: string;
  hint?: ReactNode;
}

/** SelectField is a labelled native select: accessible and usable on phones. */
export function SelectField({ label, hint, id, className = '', children, ...rest }: SelectProps) {
  const auto = useId();
  const selectId = id ?? auto;
  const hintId = hint ? `${selectId}-hint` : undefined;
  return (
    <div className={className}>
      <label htmlFor={selectId} className="block text-sm font-medium text-gray-900 dark:text-gray-100">
        {label}
      </label>
      <select id={selectId} aria-describedby={hintId} className={`mt-1 ${inputClass}`} {...rest}>
        {children}
      </select>
      {hint && (
        <p id={hintId} className="mt-1 text-xs text-gray-600 dark:text-gray-400">
          {hint}
        </p>
      )}
    </div>
  );
}

/** Checkbox is a labelled checkbox. */
export function Checkbox({ label, hint, id, ...rest }: InputHTMLAttributes<HTMLInputElement> & { label: string; hint?: string }) {
  const auto = useId();
  const boxId = id ?? auto;
  return (
    <div className="flex items-start gap-2">
      <input id={boxId} type="checkbox" className="mt-1 h-4 w-4 rounded border-gray-300 text-indigo-600 focus:ring-indigo-600" {...rest} />
      <label htmlFor={boxId} className="text-sm text-gray-900 dark:text-gray-100">
        {label}
        {hint && <span className="block text-xs text-gray-600 dark:text-gray-400">{hint}</span>}
      </label>
    </div>
  );
}
